/**
 * Well-framed hostile sessions for the memory tests: every chunk has a valid checksum and
 * passes the format's caps, but the events are built to cost a reader as much as possible
 * (the attacks of issue 18: many lanes of compressible chunks, huge texts, huge counts, huge
 * dictionaries). Written straight from the format's framing, not through the writer, which
 * would refuse or split them.
 */
import { writeFileSync } from 'node:fs';
import { deflateRawSync, constants as zc } from 'node:zlib';
import { currentTypeTable } from '../codec.ts';
import { ByteWriter, CHUNK, CODEC, EVTS_PREFIX_BYTES, concatBytes, frameChunk, preamble, utf8, writeEvtsPrefix } from '../format.ts';

export interface HostileLane {
  /** The chunk body before compression: dictionary, then events. */
  body: Uint8Array;
  count: number;
  /** Time of the last event (events are at t = 0 unless the body says otherwise). */
  tMax?: number;
}

function put(w: ByteWriter, b: Uint8Array): void {
  w.ensure(b.length);
  w.buf.set(b, w.pos);
  w.pos += b.length;
}

const typeId = (name: string): number => currentTypeTable().findIndex((t) => t.name === name);

export interface HostileOptions {
  /** Write a footer (default true). */
  footer?: boolean;
  /** The event count the footer claims (default: the events written). */
  footerEvents?: number;
}

/** A session of one VM whose vCPU i holds one chunk with `lanes[i]`'s body; with a footer but no index. */
export function hostileSession(lanes: HostileLane[], opts: HostileOptions = {}): Uint8Array {
  const header = {
    formatMajor: 1,
    formatMinor: 0,
    minReaderVersion: 1,
    producer: 'hostile',
    scenarioName: 'hostile',
    scenario: null,
    scenarioCrc32: '00000000',
    seed: 0,
    vms: 1,
    vcpus: [lanes.length],
    features: {},
    eventTypes: currentTypeTable(),
  };
  const parts: Uint8Array[] = [preamble(), frameChunk(CHUNK.HEAD, utf8(JSON.stringify(header)))];
  let events = 0;
  lanes.forEach((lane, vcpu) => {
    const packed = new Uint8Array(deflateRawSync(lane.body, { level: zc.Z_BEST_COMPRESSION }));
    const payload = new Uint8Array(EVTS_PREFIX_BYTES + packed.length);
    const tMax = lane.tMax ?? 0;
    writeEvtsPrefix(payload, { vm: 0, vcpu, seq: 0, firstOrdinal: 0, count: lane.count, rawLength: lane.body.length, tMin: 0, tMax, spanEnd: tMax, codec: CODEC.deflate });
    payload.set(packed, EVTS_PREFIX_BYTES);
    parts.push(frameChunk(CHUNK.EVTS, payload));
    events += lane.count;
  });
  if (opts.footer !== false) parts.push(frameChunk(CHUNK.FOOT, utf8(JSON.stringify({ complete: true, finalNs: 0, events: opts.footerEvents ?? events, chunks: lanes.length, indexOffset: 0 }))));
  return concatBytes(parts);
}

/** `count` guest faults at t = 0, address 0, error code 0: 4 bytes each, a few KB deflated per million. */
export function compressibleLane(count: number): HostileLane {
  const w = new ByteWriter(4 * count + 8);
  w.varuint(0); // empty dictionary
  const id = typeId('guest_fault');
  for (let i = 0; i < count; i++) {
    w.varuint(id);
    w.varuint(0);
    w.varuint(0);
    w.varuint(0);
  }
  return { body: w.bytes().slice(), count };
}

/** One `raw` event whose text is `bytes` long. */
export function hugeTextLane(bytes: number): HostileLane {
  const w = new ByteWriter(bytes + 32);
  w.varuint(1);
  w.varuint(1);
  put(w, utf8('x'));
  w.varuint(typeId('raw'));
  w.varuint(0);
  w.varuint(0);
  w.varuint(bytes);
  put(w, new Uint8Array(bytes).fill(0x61));
  return { body: w.bytes().slice(), count: 1 };
}

/** A dictionary of `strings` one-byte strings, and as many tlb_flush events naming the first 128 entries. */
export function hugeDictionaryLane(strings: number): HostileLane {
  const w = new ByteWriter(8 * strings + 16);
  w.varuint(strings);
  const a = utf8('a');
  for (let i = 0; i < strings; i++) {
    w.varuint(1);
    put(w, a);
  }
  const id = typeId('tlb_flush');
  for (let i = 0; i < strings; i++) {
    w.varuint(id);
    w.varuint(0);
    w.varuint(0); // mask: no optional address
    w.varuint(i & 127);
    w.varuint(i & 127);
  }
  return { body: w.bytes().slice(), count: strings };
}

export function writeHostile(path: string, lanes: HostileLane[], opts: HostileOptions = {}): number {
  const bytes = hostileSession(lanes, opts);
  writeFileSync(path, bytes);
  return bytes.length;
}
