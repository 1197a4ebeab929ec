/**
 * The one typed API between the UI and the host.
 *
 * Every call and every event is declared once, as data: its name, its parameter schema and its
 * result schema. The tables live by domain in contract/ (sessions, queries, page tables, runs,
 * labs, capture; the wire format in contract/wire.ts); this file is the one place that assembles
 * them into the whole contract. The Electron preload bridge, the main-process IPC registration,
 * the browser host's WebSocket router and the renderer's client are all derived from it. The host
 * validates every incoming message against these schemas; the renderer imports only this file
 * (and the types it derives), never Electron or Node.
 *
 * Pure: depends on zod and core's pure definitions only.
 */
import type { z } from 'zod';
import { CAPTURE_CALLS, CAPTURE_EVENTS } from './contract/capture.ts';
import { LAB_CALLS } from './contract/labs.ts';
import { PAGE_TABLE_CALLS } from './contract/pageTables.ts';
import { QUERY_CALLS, QUERY_EVENTS } from './contract/queries.ts';
import { RUN_CALLS, RUN_EVENTS } from './contract/runs.ts';
import { SESSION_CALLS, SESSION_EVENTS } from './contract/sessions.ts';

export { TRACE_CHUNK_BYTES, queryId, sessionId } from './contract/common.ts';
export * from './contract/capture.ts';
export * from './contract/labs.ts';
export * from './contract/pageTables.ts';
export * from './contract/queries.ts';
export * from './contract/runs.ts';
export * from './contract/sessions.ts';
export * from './contract/wire.ts';

/** The calls. Each has `params` (validated by the host) and `result` (the shape returned). */
export const API = {
  ...RUN_CALLS,
  ...SESSION_CALLS,
  ...QUERY_CALLS,
  ...PAGE_TABLE_CALLS,
  ...CAPTURE_CALLS,
  ...LAB_CALLS,
} as const;

/** Events the host pushes to the UI. */
export const API_EVENTS = {
  ...RUN_EVENTS,
  ...SESSION_EVENTS,
  ...QUERY_EVENTS,
  ...CAPTURE_EVENTS,
} as const;

export type ApiMethod = keyof typeof API;
export type ApiParams<M extends ApiMethod> = z.input<(typeof API)[M]['params']>;
export type ApiResult<M extends ApiMethod> = z.output<(typeof API)[M]['result']>;
export type ApiEventName = keyof typeof API_EVENTS;
export type ApiEventPayload<E extends ApiEventName> = z.output<(typeof API_EVENTS)[E]>;

export const API_METHODS = Object.keys(API) as ApiMethod[];
export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(API, name);
}

/** An event as it crosses the wire (contract/wire.ts), named by the contract. */
export type EventMessage = { event: ApiEventName; payload: unknown };

/** What the renderer holds: one typed client, whichever host is behind it. */
export interface ApiClient {
  call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>>;
  on<E extends ApiEventName>(event: E, listener: (payload: ApiEventPayload<E>) => void): () => void;
}
