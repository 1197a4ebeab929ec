/**
 * Chunks appended after a recording is closed, never rewriting recorded data:
 * - `KEYF` keyframes: the full page-table state (sessions/state.ts) every KEYFRAME_EVENTS
 *   canonical events, so state-at-t is the nearest keyframe plus a short replay;
 * - `NOTE` annotations: notes and bookmarks, one JSON record per chunk, merged last-wins.
 *
 * Keyframes are written after the footer because they are defined on the canonical event
 * order, which is only final once every lane is flushed. Each append is one `write` of one
 * framed, checksummed chunk at the end of the file (O_APPEND), so a crash mid-append leaves at
 * worst a torn last chunk, which the reader reports and skips; nothing before it changes.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { CHUNK, CAPS, CHUNK_OVERHEAD, FormatError, concatBytes, frameChunk, readF64, readU32, utf8, writeF64, writeU32 } from './format.ts';
import { PageState } from './state.ts';
import type { SessionReader } from './reader.ts';

/** Canonical events between two keyframes (small enough that a replay from one stays well under 100 ms). */
export const KEYFRAME_EVENTS = 16_384;
/** KEYF payload prefix: u8 version, u8 codec, u16 reserved, u32 rawLength, f64 applied, f64 t, f64 total. */
export const KEYF_PREFIX_BYTES = 32;
export const KEYF_VERSION = 1;

export interface KeyframeRef {
  /** Byte offset of the chunk. */
  offset: number;
  /** Payload length. */
  length: number;
  /** Canonical events applied: the state just before event `applied`. */
  applied: number;
  /** Time of the last applied event (ns). */
  t: number;
  /** Events the session had when the keyframe was written (a keyframe of another event count is not used). */
  total: number;
  rawLength: number;
  codec: number;
}

/** The keyframe a KEYF chunk at `offset` describes, from the start of its payload (`length` bytes in all). */
export function readKeyfPrefix(prefix: Uint8Array, offset: number, length: number): KeyframeRef | undefined {
  if (length < KEYF_PREFIX_BYTES || prefix.length < KEYF_PREFIX_BYTES || prefix[0] !== KEYF_VERSION) return undefined;
  const codec = prefix[1]!;
  const rawLength = readU32(prefix, 4);
  const applied = readF64(prefix, 8);
  const t = readF64(prefix, 16);
  const total = readF64(prefix, 24);
  const nat = (x: number) => Number.isSafeInteger(x) && x >= 0;
  if (codec > 1 || rawLength > CAPS.maxRawBytes || !nat(applied) || !nat(t) || !nat(total) || applied > total) return undefined;
  if (codec === 0 && rawLength !== length - KEYF_PREFIX_BYTES) return undefined;
  return { offset, length, applied, t, total, rawLength, codec };
}

export function keyframeChunk(state: PageState, t: number, total: number): Uint8Array {
  const raw = state.encode();
  const z = deflateRawSync(raw, { level: 1 });
  const useZ = z.length < raw.length;
  const body = useZ ? z : raw;
  const payload = new Uint8Array(KEYF_PREFIX_BYTES + body.length);
  payload[0] = KEYF_VERSION;
  payload[1] = useZ ? 1 : 0;
  writeU32(payload, 4, raw.length);
  writeF64(payload, 8, state.applied);
  writeF64(payload, 16, t);
  writeF64(payload, 24, total);
  payload.set(body, KEYF_PREFIX_BYTES);
  return frameChunk(CHUNK.KEYF, payload);
}

/** KIDX payload: u8 version, 3 bytes reserved, u32 count, then `count` entries of KIDX_ENTRY_BYTES. */
export const KIDX_VERSION = 1;
/** A KIDX entry: f64 offset of the KEYF chunk, u32 its payload length, u32 reserved, its 32-byte KEYF prefix. */
export const KIDX_ENTRY_BYTES = 16 + KEYF_PREFIX_BYTES;

/**
 * The KIDX chunk that lists `keyframes` (framed KEYF chunks written back to back from byte
 * `firstOffset`), so a reader finds them from the end of the file without walking them.
 */
export function keyframeIndexChunk(keyframes: Uint8Array[], firstOffset: number): Uint8Array {
  const payload = new Uint8Array(8 + keyframes.length * KIDX_ENTRY_BYTES);
  payload[0] = KIDX_VERSION;
  writeU32(payload, 4, keyframes.length);
  let offset = firstOffset;
  keyframes.forEach((chunk, i) => {
    const at = 8 + i * KIDX_ENTRY_BYTES;
    const length = readU32(chunk, 4);
    writeF64(payload, at, offset);
    writeU32(payload, at + 8, length);
    payload.set(chunk.subarray(8, 8 + KEYF_PREFIX_BYTES), at + 16);
    offset += CHUNK_OVERHEAD + length;
  });
  return frameChunk(CHUNK.KIDX, payload);
}

/**
 * The keyframes a KIDX payload lists, in file order, or undefined when it is not a valid list or
 * lists more than `most` (what the bytes before it could hold: checked before anything is built).
 */
export function readKeyframeIndex(payload: Uint8Array, most: number): KeyframeRef[] | undefined {
  if (payload.length < 8 || payload[0] !== KIDX_VERSION) return undefined;
  const count = readU32(payload, 4);
  if (count > most || payload.length !== 8 + count * KIDX_ENTRY_BYTES) return undefined;
  const out: KeyframeRef[] = [];
  for (let i = 0; i < count; i++) {
    const at = 8 + i * KIDX_ENTRY_BYTES;
    const offset = readF64(payload, at);
    if (!Number.isSafeInteger(offset) || offset < 0) return undefined;
    const k = readKeyfPrefix(payload.subarray(at + 16, at + KIDX_ENTRY_BYTES), offset, readU32(payload, at + 8));
    if (!k) return undefined;
    out.push(k);
  }
  return out;
}

/** The raw state bytes of a keyframe from its chunk's payload (throws FormatError when they do not inflate). */
export function keyframeBody(payload: Uint8Array, k: KeyframeRef): Uint8Array {
  // a keyframe found through a KIDX list was not read at open: its own prefix must say the same
  const own = readKeyfPrefix(payload, k.offset, k.length);
  if (!own || own.applied !== k.applied || own.t !== k.t || own.total !== k.total || own.rawLength !== k.rawLength || own.codec !== k.codec)
    throw new FormatError('its prefix disagrees with the keyframe list');
  const stored = payload.subarray(KEYF_PREFIX_BYTES);
  if (k.codec === 0) return stored;
  let out: Uint8Array;
  try {
    out = inflateRawSync(stored, { maxOutputLength: Math.max(1, k.rawLength) });
  } catch {
    throw new FormatError('its compressed state does not inflate');
  }
  if (out.length !== k.rawLength) throw new FormatError('its state does not inflate to the declared size');
  return out;
}

/**
 * The one keyframe pass: replays the session in canonical order and yields a KEYF chunk after
 * every `every` events (the state before event k·every), and `null` every `sliceEvents` events
 * so an async caller can yield to its event loop. The sync and async appenders both drive it,
 * so the CLI's and the host's keyframes are the same bytes.
 */
function* keyframePass(session: SessionReader, every: number, sliceEvents: number, after = 0): Generator<Uint8Array | null> {
  const total = session.eventCount;
  const state = new PageState(session.header.vms);
  let slice = 0;
  for (const e of session.iterate()) {
    state.apply(e);
    if (state.applied % every === 0 && state.applied > after && state.applied < total) yield keyframeChunk(state, e.t, total);
    if (++slice === sliceEvents) {
      slice = 0;
      yield null;
    }
  }
}

function hasKeyframes(session: SessionReader): boolean {
  return session.keyframes.some((k) => k.total === session.eventCount);
}

/**
 * Where a cut keyframe pass stopped: the events covered by the last keyframe when the session
 * has some keyframes but not up to its end (a host shut down during the pass), else undefined
 * (none at all, or all of them).
 */
export function keyframesCutAt(session: SessionReader, every = KEYFRAME_EVENTS): number | undefined {
  if (!hasKeyframes(session)) return undefined;
  const last = Math.max(...session.keyframes.map((k) => k.applied));
  return last + every < session.eventCount ? last : undefined;
}

/**
 * `appendKeyframes` for a host that must stay responsive: the same pass, yielding to the event
 * loop every `sliceEvents` events (a 10-million-event session takes seconds to replay). When
 * `signal` aborts (the host is shutting down) the pass ends at its next slice and appends the
 * keyframes made so far: each one is complete on its own, and the reader replays from the
 * nearest, so a cut pass only makes seeks past its last keyframe slower.
 */
export async function appendKeyframesAsync(
  path: string,
  session: SessionReader,
  every = KEYFRAME_EVENTS,
  sliceEvents = 50_000,
  signal?: AbortSignal,
): Promise<number> {
  // a pass cut short earlier goes on after its last keyframe; otherwise once is enough
  const cut = keyframesCutAt(session, every);
  if (cut === undefined && hasKeyframes(session)) return 0;
  const chunks: Uint8Array[] = [];
  for (const chunk of keyframePass(session, every, sliceEvents, cut)) {
    if (chunk) chunks.push(chunk);
    else {
      if (signal?.aborted) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) break;
    }
  }
  appendChunks(path, chunks, true);
  return chunks.length;
}

/**
 * Append chunks in one write. Keyframes are followed by the KIDX chunk that lists them (format
 * 1.2), in the same write: a crash tears at worst the end of it.
 */
function appendChunks(path: string, chunks: Uint8Array[], keyframes = false): void {
  if (!chunks.length) return;
  const fd = openSync(path, 'a');
  try {
    const all = concatBytes(keyframes ? [...chunks, keyframeIndexChunk(chunks, fstatSync(fd).size)] : chunks);
    let done = 0;
    while (done < all.length) done += writeSync(fd, all, done, all.length - done);
  } finally {
    closeSync(fd);
  }
}

/**
 * Append keyframes to a closed session (the recorder and `mmu-lab record` do this right after
 * closing the writer). Skips a session that already has keyframes for its event count.
 * Returns how many were written.
 */
export function appendKeyframes(path: string, session: SessionReader, every = KEYFRAME_EVENTS): number {
  if (hasKeyframes(session)) return 0;
  const chunks: Uint8Array[] = [];
  for (const chunk of keyframePass(session, every, Number.MAX_SAFE_INTEGER)) if (chunk) chunks.push(chunk);
  appendChunks(path, chunks, true);
  return chunks.length;
}

// ---- notes and bookmarks --------------------------------------------------------------

export interface NoteRecord {
  noteId: string;
  kind: 'note' | 'bookmark';
  t: number;
  index?: number;
  vm?: number;
  vcpu?: number;
  text: string;
  createdMs: number;
}

/** One NOTE chunk: a note put (added or replaced) or removed. */
export type NoteOp = { op: 'put'; note: NoteRecord } | { op: 'remove'; noteId: string; atMs: number };

export const MAX_NOTE_TEXT = 10_000;

export function parseNoteOp(bytes: Uint8Array): NoteOp | undefined {
  if (bytes.length > 64 * 1024) return undefined;
  let x: unknown;
  try {
    x = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (!x || typeof x !== 'object') return undefined;
  const o = x as Record<string, unknown>;
  const id = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v);
  const nat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (o.op === 'remove') return id(o.noteId) && nat(o.atMs) ? { op: 'remove', noteId: o.noteId, atMs: o.atMs } : undefined;
  if (o.op !== 'put' || !o.note || typeof o.note !== 'object') return undefined;
  const n = o.note as Record<string, unknown>;
  if (!id(n.noteId) || (n.kind !== 'note' && n.kind !== 'bookmark') || typeof n.t !== 'number' || !(n.t >= 0)) return undefined;
  if (typeof n.text !== 'string' || n.text.length > MAX_NOTE_TEXT || !nat(n.createdMs)) return undefined;
  for (const k of ['index', 'vm', 'vcpu'] as const) if (n[k] !== undefined && !nat(n[k])) return undefined;
  const note: NoteRecord = { noteId: n.noteId, kind: n.kind, t: n.t, text: n.text, createdMs: n.createdMs };
  if (nat(n.index)) note.index = n.index;
  if (nat(n.vm)) note.vm = n.vm;
  if (nat(n.vcpu)) note.vcpu = n.vcpu;
  return { op: 'put', note };
}

/** Merge NOTE operations in file order: the last put of an id wins, a later remove deletes it. */
export function mergeNotes(ops: NoteOp[]): NoteRecord[] {
  const byId = new Map<string, NoteRecord>();
  for (const op of ops) {
    if (op.op === 'put') {
      byId.delete(op.note.noteId); // a replaced note moves to its new position in time order
      byId.set(op.note.noteId, op.note);
    } else byId.delete(op.noteId);
  }
  return [...byId.values()].sort((a, b) => a.t - b.t || a.createdMs - b.createdMs);
}

/** Append one note operation to a closed session. */
export function appendNoteOp(path: string, op: NoteOp): void {
  appendChunks(path, [frameChunk(CHUNK.NOTE, utf8(JSON.stringify(op)))]);
}
