/**
 * The renderer's one API client. Everything the UI asks of the host goes through an
 * `ApiClient` (declared in electron/api/contract.ts), whichever front door serves the page:
 *
 * - Electron: the preload exposes `window.mmulab` (`call` resolves with a response envelope,
 *   `on` subscribes to pushed events);
 * - browser host: a WebSocket to `ws(s)://<host>/api` on the page's origin, authenticated by
 *   the cookie the host set when the page was loaded with `?token=`. Requests carry ids,
 *   responses are matched by id, events are dispatched by name, and the socket reconnects
 *   with back-off when it drops.
 *
 * Failures are always `ApiError`s with a code: the host's own codes, or `failed` for
 * transport trouble (connection lost, timed out).
 */
import {
  ApiError,
  BROWSER_API_PATH,
  type ApiClient,
  type ApiErrorCode,
  type ApiEventName,
  type ApiEventPayload,
  type ApiMethod,
  type ApiParams,
  type ApiResult,
  type MmulabBridge,
  type ResponseEnvelope,
} from './contract';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** An `ApiClient` that also reports the state of its connection (for the UI's banner). */
export interface ConnectedApiClient extends ApiClient {
  readonly state: ConnectionState;
  onStateChange(listener: (state: ConnectionState) => void): () => void;
  close(): void;
}

const API_ERROR_CODES: readonly ApiErrorCode[] = ['bad-request', 'unknown-method', 'too-large', 'not-found', 'bad-session', 'failed'];

/** Turn whatever came back as an error into an `ApiError` with a known code. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error && typeof error === 'object') {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const known = API_ERROR_CODES.includes(code as ApiErrorCode) ? (code as ApiErrorCode) : 'failed';
    if (typeof message === 'string') return new ApiError(known, message);
  }
  return new ApiError('failed', error instanceof Error ? error.message : String(error));
}

function fromEnvelope(envelope: ResponseEnvelope): unknown {
  if (envelope.ok) return envelope.result;
  throw toApiError(envelope.error);
}

type Listener = (payload: unknown) => void;

class Listeners {
  private readonly map = new Map<string, Set<Listener>>();
  add(event: string, listener: Listener): () => void {
    let set = this.map.get(event);
    if (!set) this.map.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }
  emit(event: string, payload: unknown): void {
    for (const listener of [...(this.map.get(event) ?? [])]) {
      try {
        listener(payload);
      } catch (error) {
        console.warn(`listener for ${event} failed`, error);
      }
    }
  }
}

/** The Electron front door: a thin typed wrapper over the preload bridge. */
export class BridgeApiClient implements ConnectedApiClient {
  readonly state: ConnectionState = 'open';
  constructor(private readonly bridge: MmulabBridge) {}

  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    let envelope: ResponseEnvelope;
    try {
      envelope = await this.bridge.call(method, params);
    } catch (error) {
      throw toApiError(error);
    }
    return fromEnvelope(envelope) as ApiResult<M>;
  }

  on<E extends ApiEventName>(event: E, listener: (payload: ApiEventPayload<E>) => void): () => void {
    return this.bridge.on(event, listener as Listener);
  }

  onStateChange(): () => void {
    return () => {};
  }

  close(): void {}
}

export interface SocketOptions {
  url: string;
  /** Per-call timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** Back-off bounds for reconnecting, in ms. */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** For tests: the WebSocket constructor to use. */
  WebSocketImpl?: typeof WebSocket;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: ApiError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The browser-host front door: the contract's wire format over one WebSocket. */
export class SocketApiClient implements ConnectedApiClient {
  private socket: WebSocket | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Requests made while the socket is not open; sent once it opens. */
  private readonly queue: { id: number; text: string }[] = [];
  private readonly listeners = new Listeners();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private retryMs: number;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  state: ConnectionState = 'connecting';

  constructor(private readonly options: SocketOptions) {
    this.retryMs = options.minRetryMs ?? 250;
    this.connect();
  }

  call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    if (this.closed) return Promise.reject(new ApiError('failed', 'The API client is closed.'));
    const id = this.nextId++;
    const text = JSON.stringify({ id, method, params });
    return new Promise<ApiResult<M>>((resolve, reject) => {
      const timeoutMs = this.options.timeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError('failed', `The host did not answer ${method} within ${Math.round(timeoutMs / 1000)} s.`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      if (this.socket && this.socket.readyState === 1) this.socket.send(text);
      else this.queue.push({ id, text });
    });
  }

  on<E extends ApiEventName>(event: E, listener: (payload: ApiEventPayload<E>) => void): () => void {
    return this.listeners.add(event, listener as Listener);
  }

  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket?.close();
    this.failPending('The API client was closed.');
    this.setState('closed');
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }

  private connect(): void {
    const Impl = this.options.WebSocketImpl ?? WebSocket;
    let socket: WebSocket;
    try {
      socket = new Impl(this.options.url);
    } catch (error) {
      console.warn('could not open the API socket', error);
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.retryMs = this.options.minRetryMs ?? 250;
      this.setState('open');
      for (const { text } of this.queue.splice(0)) socket.send(text);
    };
    socket.onmessage = (message: MessageEvent) => this.receive(message.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      // A request already sent may or may not have run; the caller decides whether to retry.
      this.failPending('The connection to the host was lost.');
      if (!this.closed) this.scheduleReconnect();
    };
    // onclose follows onerror; nothing to do here beyond not throwing.
    socket.onerror = () => {};
  }

  private scheduleReconnect(): void {
    this.setState('reconnecting');
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.options.maxRetryMs ?? 5_000);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private failPending(message: string): void {
    // Queued requests were never sent; they wait for the next connection (unless closing).
    const queuedIds = new Set(this.queue.map((q) => q.id));
    if (this.closed) this.queue.length = 0;
    for (const [id, pending] of this.pending) {
      if (queuedIds.has(id) && !this.closed) continue;
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new ApiError('failed', message));
    }
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn('the host sent a message that is not JSON');
      return;
    }
    if (!message || typeof message !== 'object') return;
    const m = message as { id?: unknown; ok?: unknown; result?: unknown; error?: unknown; event?: unknown; payload?: unknown };
    if (typeof m.event === 'string') {
      this.listeners.emit(m.event, m.payload);
      return;
    }
    if (typeof m.id !== 'number') {
      // A response the host could not tie to a request (e.g. it could not parse ours).
      if (m.ok === false) console.warn('the host rejected a message', m.error);
      return;
    }
    const pending = this.pending.get(m.id);
    if (!pending) return;
    this.pending.delete(m.id);
    clearTimeout(pending.timer);
    if (m.ok === true) pending.resolve(m.result);
    else pending.reject(toApiError(m.error));
  }
}

/** The WebSocket URL of the browser host serving this page. */
export function browserApiUrl(location: Pick<Location, 'protocol' | 'host'>): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${BROWSER_API_PATH}`;
}

/** Pick the front door: the Electron bridge when the preload exposed it, else the browser host. */
export function createApiClient(win: Window & { mmulab?: MmulabBridge } = window): ConnectedApiClient {
  if (win.mmulab) return new BridgeApiClient(win.mmulab);
  return new SocketApiClient({ url: browserApiUrl(win.location) });
}
