import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, type MmulabBridge } from './contract';
import { BridgeApiClient, SocketApiClient, browserApiUrl, createApiClient } from './client';

/** A stand-in WebSocket: records what was sent; the test plays the host. */
class FakeSocket {
  static instances: FakeSocket[] = [];
  readyState = 0;
  sent: { id: number; method: string; params: unknown }[] = [];
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((message: { data: unknown }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }
  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }
  close(): void {
    this.drop();
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.();
  }
  reply(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

function client(): { api: SocketApiClient; socket: () => FakeSocket } {
  FakeSocket.instances = [];
  const api = new SocketApiClient({ url: 'ws://127.0.0.1:1/api', minRetryMs: 10, WebSocketImpl: FakeSocket as unknown as typeof WebSocket });
  return { api, socket: () => FakeSocket.instances[FakeSocket.instances.length - 1]! };
}

afterEach(() => vi.useRealTimers());

describe('SocketApiClient', () => {
  it('queues calls until the socket opens, then matches responses by id', async () => {
    const { api, socket } = client();
    const a = api.call('sessions.list', {});
    const b = api.call('app.info', {});
    expect(socket().sent).toHaveLength(0);
    socket().open();
    const [first, second] = socket().sent;
    expect(first?.method).toBe('sessions.list');
    expect(second?.method).toBe('app.info');
    expect(first?.id).not.toBe(second?.id);
    socket().reply({ id: second!.id, ok: true, result: { version: '1', host: 'browser' } });
    socket().reply({ id: first!.id, ok: true, result: [] });
    await expect(a).resolves.toEqual([]);
    await expect(b).resolves.toEqual({ version: '1', host: 'browser' });
    api.close();
  });

  it('turns error responses into typed ApiErrors', async () => {
    const { api, socket } = client();
    socket().open();
    const call = api.call('sessions.open', { id: 'x.mmulab' });
    socket().reply({ id: socket().sent[0]!.id, ok: false, error: { code: 'not-found', message: 'no such session' } });
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'not-found', message: 'no such session' });
    api.close();
  });

  it('dispatches events by name', () => {
    const { api, socket } = client();
    socket().open();
    const seen: unknown[] = [];
    const off = api.on('sessions.changed', (payload) => seen.push(payload));
    socket().reply({ event: 'sessions.changed', payload: {} });
    off();
    socket().reply({ event: 'sessions.changed', payload: {} });
    expect(seen).toEqual([{}]);
    api.close();
  });

  it('fails calls in flight when the connection drops, then reconnects', async () => {
    vi.useFakeTimers();
    const { api, socket } = client();
    const states: string[] = [];
    api.onStateChange((s) => states.push(s));
    const first = socket();
    first.open();
    const call = api.call('sessions.list', {});
    first.drop();
    await expect(call).rejects.toMatchObject({ code: 'failed' });
    expect(states).toEqual(['open', 'reconnecting']);
    const later = api.call('sessions.list', {});
    await vi.advanceTimersByTimeAsync(20);
    const second = socket();
    expect(second).not.toBe(first);
    second.open();
    expect(states.at(-1)).toBe('open');
    second.reply({ id: second.sent[0]!.id, ok: true, result: [] });
    await expect(later).resolves.toEqual([]);
    api.close();
  });

  it('times out a call the host never answers', async () => {
    vi.useFakeTimers();
    FakeSocket.instances = [];
    const api = new SocketApiClient({ url: 'ws://x/api', timeoutMs: 1000, WebSocketImpl: FakeSocket as unknown as typeof WebSocket });
    FakeSocket.instances[0]!.open();
    const call = api.call('sessions.list', {});
    const result = expect(call).rejects.toMatchObject({ code: 'failed' });
    await vi.advanceTimersByTimeAsync(1001);
    await result;
    api.close();
  });
});

describe('createApiClient', () => {
  it('uses the Electron bridge when the preload exposed one, keeping error codes', async () => {
    const bridge: MmulabBridge = {
      call: async (method) => (method === 'app.info' ? { ok: true, result: { version: '1', host: 'electron' } } : { ok: false, error: { code: 'unknown-method', message: 'nope' } }),
      on: () => () => {},
    };
    const api = createApiClient({ mmulab: bridge } as unknown as Window & { mmulab: MmulabBridge });
    expect(api).toBeInstanceOf(BridgeApiClient);
    await expect(api.call('app.info', {})).resolves.toEqual({ version: '1', host: 'electron' });
    await expect(api.call('sessions.list', {})).rejects.toMatchObject({ code: 'unknown-method', message: 'nope' });
  });

  it('derives the socket URL from the page origin', () => {
    expect(browserApiUrl({ protocol: 'http:', host: '127.0.0.1:4000' })).toBe('ws://127.0.0.1:4000/api');
    expect(browserApiUrl({ protocol: 'https:', host: 'lab.example' })).toBe('wss://lab.example/api');
  });
});
