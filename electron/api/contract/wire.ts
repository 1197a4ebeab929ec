/**
 * The wire: the messages Electron IPC and the browser host's WebSocket carry, the errors that
 * cross them, the preload's bridge and the channel names.
 *
 * Pure: zod only.
 */
import { z } from 'zod';

/** Errors crossing the API carry a code a program can test and a message a person can read. */
export const apiErrorCode = z.enum(['bad-request', 'unknown-method', 'too-large', 'not-found', 'bad-session', 'failed']);
export type ApiErrorCode = z.output<typeof apiErrorCode>;

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The wire format shared by Electron IPC and the browser host's WebSocket. */
export const MAX_MESSAGE_BYTES = 1 << 20;
export const requestMessage = z.strictObject({
  id: z.number().int().min(0),
  method: z.string().max(100),
  params: z.unknown(),
});
export type RequestMessage = z.output<typeof requestMessage>;
export type ResponseMessage =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: ApiErrorCode; message: string } };
/** A response without its id: what the Electron preload's `call` resolves with (errors keep their code). */
export type ResponseEnvelope = { ok: true; result: unknown } | { ok: false; error: { code: ApiErrorCode; message: string } };

/**
 * What the Electron preload exposes as `window.mmulab` (and nothing else). `call` never
 * rejects for API errors: it resolves with the envelope so the error code survives the
 * context bridge; the renderer's client turns `ok: false` into an `ApiError`.
 */
export interface MmulabBridge {
  call(method: string, params: unknown): Promise<ResponseEnvelope>;
  on(event: string, listener: (payload: unknown) => void): () => void;
}

/** The Electron IPC channel on which the main process pushes `EventMessage`s to the window. */
export const IPC_EVENT_CHANNEL = 'mmulab:event';
/** Electron only: the preload reports a file dropped on the window (path from the File object; checked by the main process). */
export const IPC_DROP_CHANNEL = 'mmulab:shell.dropped';
/** Electron only: the preload reports the first listener for an event (queued events then flow). */
export const IPC_LISTEN_CHANNEL = 'mmulab:shell.listening';
/** The browser host's WebSocket path (same origin as the page). */
export const BROWSER_API_PATH = '/api';

/** Electron IPC channels are namespaced so no other channel can reach a handler. */
export const IPC_CHANNEL_PREFIX = 'mmulab:';
