/**
 * A fake `ApiClient` for store tests: it answers only the calls a test declared with
 * `expect()`, and REJECTS any other call (recording it, so `verify()` fails the test even
 * when the store swallowed the rejection).
 */
import { createPinia, setActivePinia } from 'pinia';
import { installApiClient } from '../api/api';
import { ApiError, type ApiClient, type ApiEventName, type ApiEventPayload, type ApiMethod, type ApiParams, type ApiResult } from '../api/contract';

type Responder<M extends ApiMethod> = ApiResult<M> | ((params: ApiParams<M>) => ApiResult<M> | Promise<ApiResult<M>>);

interface Expectation {
  method: ApiMethod;
  respond: Responder<ApiMethod>;
  params?: Record<string, unknown>;
  /** Answer any number of matching calls instead of one. */
  repeat: boolean;
  used: number;
}

export class FakeApi implements ApiClient {
  private readonly expectations: Expectation[] = [];
  private readonly listeners = new Map<string, Set<(payload: unknown) => void>>();
  readonly calls: { method: string; params: unknown }[] = [];
  readonly unexpected: string[] = [];

  /** Expect one call of `method` (whose params include `params`, when given). */
  expect<M extends ApiMethod>(method: M, respond: Responder<M>, options: { params?: Partial<ApiParams<M>>; repeat?: boolean } = {}): this {
    this.expectations.push({
      method,
      respond: respond as Responder<ApiMethod>,
      params: options.params as Record<string, unknown> | undefined,
      repeat: options.repeat ?? false,
      used: 0,
    });
    return this;
  }

  /** Expect one call of `method` that fails with an `ApiError`. */
  fail<M extends ApiMethod>(method: M, code: ApiError['code'], message: string): this {
    return this.expect(method, () => Promise.reject(new ApiError(code, message)));
  }

  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    this.calls.push({ method, params });
    const match = this.expectations.find((e) => e.method === method && (e.repeat || e.used === 0) && matches(e.params, params));
    if (!match) {
      const text = `unexpected call ${method}(${JSON.stringify(params)})`;
      this.unexpected.push(text);
      throw new Error(text);
    }
    match.used++;
    const respond = match.respond;
    return (typeof respond === 'function' ? await (respond as (p: unknown) => unknown)(params) : respond) as ApiResult<M>;
  }

  on<E extends ApiEventName>(event: E, listener: (payload: ApiEventPayload<E>) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: unknown) => void);
    return () => set.delete(listener as (payload: unknown) => void);
  }

  emit<E extends ApiEventName>(event: E, payload: ApiEventPayload<E>): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) listener(payload);
  }

  listenerCount(event: ApiEventName): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Every expected call was made, and nothing else. */
  verify(): void {
    const missing = this.expectations.filter((e) => !e.repeat && e.used === 0).map((e) => e.method);
    if (this.unexpected.length || missing.length) {
      throw new Error([...this.unexpected, ...missing.map((m) => `expected call ${m} was not made`)].join('\n'));
    }
  }
}

function matches(expected: Record<string, unknown> | undefined, actual: unknown): boolean {
  if (!expected) return true;
  const a = (actual ?? {}) as Record<string, unknown>;
  return Object.entries(expected).every(([k, v]) => JSON.stringify(a[k]) === JSON.stringify(v));
}

/** For a store test's beforeEach: a fresh Pinia, and a fresh FakeApi installed as the client. */
export function installFakeApi(): FakeApi {
  setActivePinia(createPinia());
  const fake = new FakeApi();
  installApiClient(fake);
  return fake;
}
