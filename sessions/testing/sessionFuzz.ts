/**
 * The session fuzzer's pieces: valid sessions to start from, mutations that keep every chunk's
 * checksum valid (so they reach the reader's checks past the CRC), and the one check every
 * fuzzed or corpus file must pass. Used by sessions/sessionFuzz.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { CAPS, CHUNK, CHUNK_OVERHEAD, EVTS_PREFIX_BYTES, PREAMBLE_BYTES, concatBytes, frameChunk, fromUtf8, readU32, utf8, writeU32 } from '../format.ts';
import { ReaderLimitError, openSession } from '../reader.ts';
import { SessionWriter } from '../writer.ts';
import { appendKeyframes, appendNoteOp } from '../annex.ts';
import { syntheticEvents } from './synthetic.ts';

export interface Chunk {
  type: number;
  payload: Uint8Array;
}

/** Valid closed sessions of a few shapes (lanes, chunk sizes, keyframes, notes), as chunk lists. */
export function baseSessions(): { preamble: Uint8Array; chunks: Chunk[] }[] {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-fuzzbase-'));
  try {
    const shapes = [
      { vcpus: [1], n: 50, chunk: 16 },
      { vcpus: [2, 1], n: 400, chunk: 64 },
      { vcpus: [3], n: 1500, chunk: 500, keyframes: 300, note: true },
    ];
    return shapes.map((sh, i) => {
      const path = join(dir, `${i}.mmulab`);
      const w = SessionWriter.create(path, { scenario: { name: `fuzz ${i}`, seed: i, vms: sh.vcpus.map((vcpus) => ({ vcpus })) }, vcpus: sh.vcpus }, { chunkEvents: sh.chunk });
      for (const e of syntheticEvents(sh.n, { seed: 100 + i, vcpus: sh.vcpus })) w.append(e);
      w.close({ complete: i !== 1, ...(i === 1 ? { message: 'stopped' } : {}) });
      if (sh.keyframes) appendKeyframes(path, openSession(path).session!, sh.keyframes);
      if (sh.note) appendNoteOp(path, { op: 'put', note: { noteId: 'n1', kind: 'note', t: 5, text: 'hello', createdMs: 1 } });
      return splitChunks(new Uint8Array(readFileSync(path)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function splitChunks(bytes: Uint8Array): { preamble: Uint8Array; chunks: Chunk[] } {
  const chunks: Chunk[] = [];
  for (let off = PREAMBLE_BYTES; off + CHUNK_OVERHEAD <= bytes.length; ) {
    const length = readU32(bytes, off + 4);
    chunks.push({ type: readU32(bytes, off), payload: bytes.slice(off + 8, off + 8 + length) });
    off += CHUNK_OVERHEAD + length;
  }
  return { preamble: bytes.slice(0, PREAMBLE_BYTES), chunks };
}

export function joinChunks(preamble: Uint8Array, chunks: Chunk[]): Uint8Array {
  return concatBytes([preamble, ...chunks.map((c) => frameChunk(c.type, c.payload))]);
}

/** Values at and around the limits a reader checks. */
export const EDGE = [0, 1, 2, 255, 256, 65535, 0x7fffffff, 0xffffffff, CAPS.maxEventsPerChunk, CAPS.maxEventsPerChunk + 1, CAPS.maxRawBytes, CAPS.maxRawBytes + 1, CAPS.maxDictStrings, 2 ** 53 - 1, 2 ** 53];

/** One mutation, chosen by the fuzzer's numbers; every chunk is reframed, so its checksum is valid. */
export interface Mutation {
  kind: 'prefixField' | 'bodyVaruint' | 'dictCount' | 'bodyBytes' | 'json' | 'structure';
  chunk: number;
  at: number;
  value: number;
  bytes: Uint8Array;
}

const PREFIX_FIELDS: [number, 'u16' | 'u32' | 'f64' | 'u8'][] = [
  [0, 'u16'],
  [2, 'u16'],
  [4, 'u32'],
  [8, 'f64'],
  [16, 'u32'],
  [20, 'u32'],
  [24, 'f64'],
  [32, 'f64'],
  [40, 'f64'],
  [48, 'u8'],
];

function varuint(v: number): Uint8Array {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return new Uint8Array(out);
}

function evtsBody(p: Uint8Array): Uint8Array {
  const stored = p.subarray(EVTS_PREFIX_BYTES);
  if (p[48] !== 1) return stored.slice();
  try {
    return new Uint8Array(inflateRawSync(stored));
  } catch {
    return stored.slice();
  }
}

/** A new EVTS payload around `body`, compressed as the original was, with rawLength set to match. */
function withBody(p: Uint8Array, body: Uint8Array): Uint8Array {
  const stored = p[48] === 1 ? new Uint8Array(deflateRawSync(body)) : body;
  const out = new Uint8Array(EVTS_PREFIX_BYTES + stored.length);
  out.set(p.subarray(0, EVTS_PREFIX_BYTES));
  writeU32(out, 20, body.length);
  out.set(stored, EVTS_PREFIX_BYTES);
  return out;
}

function mutateJson(text: string, m: Mutation): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  const paths: { obj: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (x: unknown, depth: number) => {
    if (!x || typeof x !== 'object' || depth > 6 || paths.length > 4000) return;
    for (const k of Object.keys(x)) {
      paths.push({ obj: x as Record<string, unknown>, key: Array.isArray(x) ? Number(k) : k });
      walk((x as Record<string, unknown>)[k], depth + 1);
    }
  };
  walk(value, 0);
  if (!paths.length) return text;
  const p = paths[m.at % paths.length]!;
  const choices: unknown[] = [EDGE[m.value % EDGE.length], -1, 0.5, null, '', 'x'.repeat(m.value % 5000), [], {}, '__proto__', 'constructor', Array.from({ length: m.value % 3000 }, (_, i) => i)];
  (p.obj as Record<string | number, unknown>)[p.key] = choices[m.value % choices.length];
  return JSON.stringify(value);
}

export function mutate(base: { preamble: Uint8Array; chunks: Chunk[] }, muts: Mutation[]): Uint8Array {
  const chunks = base.chunks.map((c) => ({ type: c.type, payload: c.payload }));
  for (const m of muts) {
    if (!chunks.length) break;
    const i = m.chunk % chunks.length;
    const c = chunks[i]!;
    const p = c.payload.slice();
    if (m.kind === 'structure') {
      const op = m.value % 5;
      if (op === 0) chunks.splice(i, 0, { ...c });
      else if (op === 1 && chunks.length > 1) chunks.splice(i, 1);
      else if (op === 2) {
        const j = m.at % chunks.length;
        [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
      } else if (op === 3) chunks.splice(i, 0, { type: 0x41525458, payload: m.bytes });
      else chunks.push({ type: [CHUNK.EVTS, CHUNK.FOOT, CHUNK.INDX, CHUNK.KEYF, CHUNK.NOTE, CHUNK.HEAD][m.at % 6]!, payload: m.bytes });
      continue;
    }
    if (m.kind === 'json') {
      if (c.type === CHUNK.HEAD || c.type === CHUNK.FOOT || c.type === CHUNK.NOTE) c.payload = utf8(mutateJson(fromUtf8(p), m));
      else if (c.type === CHUNK.INDX && p.length > 4) {
        try {
          const json = mutateJson(fromUtf8(inflateRawSync(p.subarray(4))), m);
          const z = deflateRawSync(utf8(json));
          const out = new Uint8Array(4 + z.length);
          writeU32(out, 0, utf8(json).length);
          out.set(z, 4);
          c.payload = out;
        } catch {
          // an index that does not inflate stays as it is
        }
      }
      continue;
    }
    if (c.type !== CHUNK.EVTS || p.length < EVTS_PREFIX_BYTES) continue;
    const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    if (m.kind === 'prefixField') {
      const [off, kind] = PREFIX_FIELDS[m.at % PREFIX_FIELDS.length]!;
      const v = EDGE[m.value % EDGE.length]!;
      if (kind === 'u16') dv.setUint16(off, v & 0xffff, true);
      else if (kind === 'u32') dv.setUint32(off, v >>> 0, true);
      else if (kind === 'u8') dv.setUint8(off, v & 0xff);
      else dv.setFloat64(off, m.value % 7 === 0 ? -v : v, true);
      c.payload = p;
      continue;
    }
    const body = evtsBody(p);
    if (m.kind === 'dictCount') {
      // the dictionary count at the start of the body, pushed to the limits
      const rest = body.subarray(1);
      const v = varuint(EDGE[m.value % EDGE.length]!);
      const nb = new Uint8Array(v.length + rest.length);
      nb.set(v);
      nb.set(rest, v.length);
      c.payload = withBody(p, nb);
    } else if (m.kind === 'bodyVaruint') {
      const at = m.at % Math.max(1, body.length);
      const v = varuint(EDGE[m.value % EDGE.length]!);
      const nb = new Uint8Array(body.length + v.length - 1);
      nb.set(body.subarray(0, at));
      nb.set(v, at);
      nb.set(body.subarray(at + 1), at + v.length);
      c.payload = withBody(p, nb);
    } else {
      const at = m.at % Math.max(1, body.length);
      const nb = new Uint8Array(body.length + m.bytes.length);
      nb.set(body.subarray(0, at));
      nb.set(m.bytes, at);
      nb.set(body.subarray(at), at + m.bytes.length);
      c.payload = withBody(p, m.value % 2 ? nb.subarray(0, Math.max(0, nb.length - (m.value % 17))) : nb);
    }
  }
  return joinChunks(base.preamble, chunks);
}

/**
 * What every input must do: open without throwing or a reader_bug, and answer every query
 * (or refuse one with ReaderLimitError, the reader's memory budget) in bounded time.
 */
export function exerciseSession(bytes: Uint8Array): { opened: boolean; events: number } {
  const { session, diagnostics } = openSession(bytes);
  const bug = diagnostics.find((d) => d.code === 'reader_bug');
  if (bug) throw new Error(bug.message);
  if (!session) {
    if (!diagnostics.some((d) => d.severity === 'error')) throw new Error('no session and no error');
    return { opened: false, events: 0 };
  }
  let n = 0;
  const limited = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ReaderLimitError) return undefined;
      throw e;
    }
  };
  limited(() => {
    for (const e of session.iterate()) {
      if (!Number.isSafeInteger(e.t) || e.t < 0) throw new Error(`event time ${e.t}`);
      n++;
    }
  });
  if (n > session.eventCount) throw new Error(`${n} events read, ${session.eventCount} declared`);
  const s = session.summary();
  session.counters(s.startNs, (s.startNs + s.endNs) / 2);
  session.timeline(s.startNs, s.endNs, 9);
  limited(() => session.events(1, 5));
  limited(() => session.events(0, 5, ['vmexit', 'constructor', '__proto__']));
  limited(() => session.stateAfter(Math.max(0, Math.floor(session.eventCount / 2))));
  session.notes();
  return { opened: true, events: n };
}
