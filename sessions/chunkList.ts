/**
 * The CLST chunk (format 1.2): every event chunk's place and prefix as fixed-size binary
 * records, written at close after the index, so that opening a closed session from its footer
 * reads them with one positioned read and no JSON parse, whatever the number of chunks. The
 * index (INDX) keeps the per-chunk statistics, read when they are first needed.
 *
 * Payload: u8 version (1), 3 bytes reserved, u32 count, then `count` records of 64 bytes in the
 * order the chunks were written:
 *
 *   0 f64 offset | 8 u32 payload length | 12 u16 vm | 14 u16 vcpu | 16 u32 seq | 20 u32 count |
 *   24 u32 rawLength | 28 u8 codec | 29 3 reserved | 32 f64 tMin | 40 f64 tMax | 48 f64 spanEnd |
 *   56 f64 walkRefs (sum of the chunk's page_walk `refs`)
 *
 * Pure TypeScript over bytes, shared by the writer and the reader.
 */
import { readU32, writeF64, writeU16, writeU32 } from './format.ts';

export const CLST_VERSION = 1;
export const CLST_RECORD_BYTES = 64;
const HEAD_BYTES = 8;

export interface ListedChunk {
  offset: number;
  length: number;
  vm: number;
  vcpu: number;
  seq: number;
  count: number;
  rawLength: number;
  codec: number;
  tMin: number;
  tMax: number;
  spanEnd: number;
  walkRefs: number;
}

export function chunkListPayload(chunks: readonly ListedChunk[]): Uint8Array {
  const out = new Uint8Array(HEAD_BYTES + chunks.length * CLST_RECORD_BYTES);
  out[0] = CLST_VERSION;
  writeU32(out, 4, chunks.length);
  chunks.forEach((c, i) => {
    const at = HEAD_BYTES + i * CLST_RECORD_BYTES;
    writeF64(out, at, c.offset);
    writeU32(out, at + 8, c.length);
    writeU16(out, at + 12, c.vm);
    writeU16(out, at + 14, c.vcpu);
    writeU32(out, at + 16, c.seq);
    writeU32(out, at + 20, c.count);
    writeU32(out, at + 24, c.rawLength);
    out[at + 28] = c.codec;
    writeF64(out, at + 32, c.tMin);
    writeF64(out, at + 40, c.tMax);
    writeF64(out, at + 48, c.spanEnd);
    writeF64(out, at + 56, c.walkRefs);
  });
  return out;
}

/**
 * The records of a CLST payload, or undefined when it is not one this reader knows or lists more
 * than `most` chunks (what the file could hold: checked before anything is built). Values are
 * not checked here.
 */
export function readChunkList(payload: Uint8Array, most: number): ListedChunk[] | undefined {
  if (payload.length < HEAD_BYTES || payload[0] !== CLST_VERSION) return undefined;
  const count = readU32(payload, 4);
  if (count > most || payload.length !== HEAD_BYTES + count * CLST_RECORD_BYTES) return undefined;
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Array<ListedChunk>(count);
  for (let i = 0; i < count; i++) {
    const at = HEAD_BYTES + i * CLST_RECORD_BYTES;
    out[i] = {
      offset: dv.getFloat64(at, true),
      length: dv.getUint32(at + 8, true),
      vm: dv.getUint16(at + 12, true),
      vcpu: dv.getUint16(at + 14, true),
      seq: dv.getUint32(at + 16, true),
      count: dv.getUint32(at + 20, true),
      rawLength: dv.getUint32(at + 24, true),
      codec: dv.getUint8(at + 28),
      tMin: dv.getFloat64(at + 32, true),
      tMax: dv.getFloat64(at + 40, true),
      spanEnd: dv.getFloat64(at + 48, true),
      walkRefs: dv.getFloat64(at + 56, true),
    };
  }
  return out;
}

/**
 * The whole session's counts, in the footer (format 1.2): events per type, exits per reason,
 * and per lane `[vm, vcpu, events, exits]`. The summary of a session opened from its footer
 * comes from them, without the per-chunk statistics.
 */
export interface SessionTotals {
  types: Record<string, number>;
  exits: Record<string, number>;
  lanes: [number, number, number, number][];
}

/** The totals of the chunks an index lists (sums of their statistics). */
export function sessionTotals(chunks: readonly { vm: number; vcpu: number; count: number; types: Record<string, number>; exits: Record<string, number> }[]): SessionTotals {
  // no prototype: a key from the data (an exit reason) is never one of Object's
  const types = Object.create(null) as Record<string, number>;
  const exits = Object.create(null) as Record<string, number>;
  const lanes = new Map<number, [number, number, number, number]>();
  const add = (rec: Record<string, number>, k: string, n: number) => (rec[k] = (Object.hasOwn(rec, k) ? rec[k]! : 0) + n);
  for (const c of chunks) {
    const key = c.vm * 65536 + c.vcpu;
    let lane = lanes.get(key);
    if (!lane) lanes.set(key, (lane = [c.vm, c.vcpu, 0, 0]));
    lane[2] += c.count;
    for (const [k, n] of Object.entries(c.types)) add(types, k, n);
    for (const [k, n] of Object.entries(c.exits)) {
      add(exits, k, n);
      lane[3] += n;
    }
  }
  return { types, exits, lanes: [...lanes.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]) };
}
