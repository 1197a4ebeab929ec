/**
 * Field schemas every part of the API contract shares: ids, times, addresses, the upload chunk.
 *
 * Pure: zod only.
 */
import { z } from 'zod';

/** Session ids are file names in the host's sessions folder, never paths. */
export const sessionId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._ -]*\.mmulab$/, 'a session id is a .mmulab file name, not a path');

/** A point of simulated time, in ns. */
export const ns = z.number().finite().min(0);

/** A call that takes no parameters. */
export const noParams = z.strictObject({});

/**
 * A long query's id, made by the UI: with it the host pushes `queries.progress` while the query
 * runs, and `queries.cancel` stops it (added after v0.1; optional).
 */
export const queryId = z.string().regex(/^q-[A-Za-z0-9_-]{1,40}$/, 'a query id is q- and up to 40 letters, digits, _ or -');

/** An index into the session's canonical event order (what `sessions.events` pages through). */
export const eventIndex = z.number().int().min(0);

/** A 64-bit value (page-table entry, address) as the exports print it: `0x` and lower-case hex. */
export const hex = z.string().regex(/^0x[0-9a-f]+$/);

/** Upload chunks are base64 text, small enough for one message (MAX_MESSAGE_BYTES). */
export const TRACE_CHUNK_BYTES = 512 * 1024;
/** One upload chunk as sent: base64 of at most TRACE_CHUNK_BYTES bytes. */
export const uploadChunkData = z.string().max(Math.ceil(TRACE_CHUNK_BYTES / 3) * 4);
/** Starting an upload (a trace, a session file): the user's file name and its size. */
export const uploadBegin = z.strictObject({ fileName: z.string().min(1).max(255), sizeBytes: z.number().int().min(0).max(2 ** 40) });

/** What each domain's table of calls is: a name → its params (validated by the host) and result schemas. */
export type CallTable = Record<string, { params: z.ZodType; result: z.ZodType }>;
/** What each domain's table of events is: a name → its payload schema. */
export type EventTable = Record<string, z.ZodType>;
