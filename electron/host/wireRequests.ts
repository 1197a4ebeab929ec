/**
 * The host's side of the wire format: reading an untrusted request message (size, JSON,
 * envelope) and turning any error into what may cross the wire (a code and one line, never a
 * stack). HostService.handleRequest is built from these; the IPC wrapper and the browser host
 * use `toWireError` too.
 */
import type { z } from 'zod';
import { ApiError, MAX_MESSAGE_BYTES, requestMessage, type RequestMessage } from '../api/contract.ts';

/** One readable line for the first problem zod found, naming the field. */
export function describeIssue(error: z.ZodError, root = 'params'): string {
  const issue = error.issues[0];
  if (!issue) return `${root}: invalid value`;
  let where = root;
  for (const part of issue.path) where += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  if (issue.code === 'unrecognized_keys') return `${where}: unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return `${where}: ${issue.message}`;
}

function byteLength(raw: string | Uint8Array): number {
  return typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.byteLength;
}

/**
 * Read a wire message: a JSON string or bytes (WebSocket) or an already-decoded object. Checks
 * size, JSON and envelope, in that order. Never throws: a bad message gives its `error`, with the
 * request's id whenever it could be read (-1 otherwise), so the caller can still answer it.
 */
export function readRequest(raw: unknown): { id: number; request: RequestMessage } | { id: number; error: unknown } {
  let id = -1;
  try {
    let message: unknown = raw;
    if (typeof raw === 'string' || raw instanceof Uint8Array) {
      if (byteLength(raw) > MAX_MESSAGE_BYTES) {
        // Not parsed, but answer to the request's id when it leads the message, so the caller can match it.
        const head = typeof raw === 'string' ? raw.slice(0, 64) : Buffer.from(raw.buffer, raw.byteOffset, Math.min(64, raw.byteLength)).toString('utf8');
        const leading = /^\s*\{\s*"id"\s*:\s*(\d{1,15})\s*,/.exec(head);
        if (leading) id = Number(leading[1]);
        throw new ApiError('too-large', `message is ${byteLength(raw)} bytes; the limit is ${MAX_MESSAGE_BYTES}`);
      }
      const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
      try {
        message = JSON.parse(text);
      } catch {
        throw new ApiError('bad-request', 'message is not valid JSON');
      }
    }
    if (message && typeof message === 'object' && 'id' in message) {
      const maybe = (message as { id: unknown }).id;
      if (typeof maybe === 'number' && Number.isSafeInteger(maybe) && maybe >= 0) id = maybe;
    }
    // `params` may be left out for methods that take none.
    if (message && typeof message === 'object' && !Array.isArray(message) && !('params' in message)) message = { ...message, params: {} };
    const envelope = requestMessage.safeParse(message);
    if (!envelope.success) throw new ApiError('bad-request', describeIssue(envelope.error, 'message'));
    return { id, request: envelope.data };
  } catch (error) {
    return { id, error };
  }
}

/** Any error as it may cross the wire: ApiErrors keep their code; anything else is 'failed', without a stack. */
export function toWireError(error: unknown): { code: ApiError['code']; message: string } {
  if (error instanceof ApiError) return { code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'failed', message: message.split('\n')[0]!.slice(0, 500) || 'internal error' };
}
