import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventToJson } from '../core/events.ts';
import { memorySource, type ByteSource } from './byteSource.ts';
import { appendKeyframesAsync, appendNoteOp } from './annex.ts';
import { crc32 } from './format.ts';
import { recordScenario } from './record.ts';
import { SessionReader, openSession } from './reader.ts';
import { scanSession } from './read/scan.ts';
import { PageState } from './state.ts';
import { builtinScenario } from './testing/recordBuiltin.ts';

// Opening a closed session from its end (docs/session-format.md, "Opening a file without reading
// it all"): the number of reads does not depend on the number of chunks, the result is what the
// chunks hold, and damage the open no longer looks at is found when a chunk is first used.

const dir = mkdtempSync(join(tmpdir(), 'mmulab-footer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEYFRAME_EVENTS = 700;

/** kbuild-zap (15 637 events), in chunks of `chunkEvents`, with keyframes and one note. */
function record(name: string, chunkEvents: number): Uint8Array {
  const path = join(dir, name);
  recordScenario(builtinScenario('kbuild-zap'), path, { chunkEvents, keyframeEvents: KEYFRAME_EVENTS, maxEvents: 30_000 });
  appendNoteOp(path, { op: 'put', note: { noteId: 'n1', kind: 'note', t: 1000, text: 'look here', createdMs: 1 } });
  return new Uint8Array(readFileSync(path));
}

/** The chunks of a file, walked by the framing the format doc gives: type | length | payload | crc | length. */
function chunksOf(bytes: Uint8Array): { offset: number; type: string; length: number }[] {
  const out: { offset: number; type: string; length: number }[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  for (let off = 16; off + 16 <= bytes.length; ) {
    const length = dv.getUint32(off + 4, true);
    out.push({ offset: off, type: String.fromCharCode(...bytes.subarray(off, off + 4)), length });
    off += 16 + length;
  }
  return out;
}

/** A byte source that counts the reads made through it. */
function counting(bytes: Uint8Array): ByteSource & { reads: number; bytes: number } {
  const inner = memorySource(bytes);
  const src = {
    size: inner.size,
    reads: 0,
    bytes: 0,
    read(offset: number, length: number) {
      src.reads++;
      const got = inner.read(offset, length);
      src.bytes += got.length;
      return got;
    },
  };
  return src;
}

function openCounted(bytes: Uint8Array): { session: SessionReader; src: ReturnType<typeof counting> } {
  const src = counting(bytes);
  const { found, diagnostics } = scanSession(src);
  expect(diagnostics).toEqual([]);
  const reads = { reads: src.reads, bytes: src.bytes };
  const session = new SessionReader(src, found!, diagnostics);
  Object.assign(src, reads);
  return { session, src };
}

/** Every event count of each EVTS chunk (its prefix's `count`), by offset. */
const countAt = (bytes: Uint8Array, offset: number) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(offset + 8 + 16, true);

/** Recompute a chunk's checksum after its payload was changed on purpose (a checksum-valid edit). */
function reframe(bytes: Uint8Array, offset: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const length = dv.getUint32(offset + 4, true);
  dv.setUint32(offset + 8 + length, crc32(bytes.subarray(offset, offset + 8 + length)), true);
}

describe('which way the compatibility fixtures open', () => {
  const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/v1/${name}`, import.meta.url)));
  it('a format-1.2 file opens from its footer; format-1.1 files (no chunk list) by the framing walk, as before', () => {
    const open = (name: string) => {
      const { found, diagnostics } = scanSession(memorySource(fixture(name)));
      expect(diagnostics).toEqual([]);
      return found!.lanes.flatMap((l) => l.chunks);
    };
    const v12 = open('multi-vcpu-1.2.mmulab');
    expect(v12.length).toBeGreaterThan(0);
    expect(v12.every((ch) => ch.unverified === true)).toBe(true);
    for (const name of ['multi-vcpu.mmulab', 'script-basic.mmulab']) expect(open(name).every((ch) => ch.unverified === undefined)).toBe(true);
  });
});

describe('a keyframe pass cut short and resumed', () => {
  it('appends two batches, each with its KIDX list: the open from the footer finds all keyframes and states stay exact', async () => {
    const path = join(dir, 'resumed.mmulab');
    recordScenario(builtinScenario('kbuild-zap'), path, { chunkEvents: 64, keyframeEvents: 1e9, maxEvents: 30_000 });
    const abort = new AbortController();
    const first = appendKeyframesAsync(path, openSession(path).session!, 200, 500, abort.signal);
    abort.abort(); // the pass stops after its first slice of 500 events
    expect(await first).toBe(2);
    expect(await appendKeyframesAsync(path, openSession(path).session!, 200, 500)).toBeGreaterThan(10);
    const bytes = new Uint8Array(readFileSync(path));
    expect(chunksOf(bytes).filter((c) => c.type === 'KIDX').length).toBe(2);
    const { found, diagnostics } = scanSession(memorySource(bytes));
    expect(diagnostics).toEqual([]);
    expect(found!.lanes.every((l) => l.chunks.every((ch) => ch.unverified))).toBe(true);
    const session = new SessionReader(memorySource(bytes), found!, diagnostics);
    expect(session.keyframes.map((k) => k.applied)).toEqual(Array.from({ length: Math.floor((session.eventCount - 1) / 200) }, (_, i) => (i + 1) * 200));
    const events = [...session.iterate()];
    for (const n of [0, 199, 200, 401, 1234, events.length]) {
      const replay = new PageState(session.header.vms);
      for (let i = 0; i < n; i++) replay.apply(events[i]!, i);
      expect(Buffer.from(session.stateBefore(n).encode()).equals(Buffer.from(replay.encode()))).toBe(true);
    }
  });
});

describe('opening a closed session from its footer', () => {
  const few = record('few.mmulab', 1200);
  const many = record('many.mmulab', 15);
  const fewChunks = chunksOf(few);
  const manyChunks = chunksOf(many);
  const evts = manyChunks.filter((c) => c.type === 'EVTS');
  const asJson = (e: Parameters<typeof eventToJson>[0]) => JSON.stringify(eventToJson(e));
  // the events as the chunk walk reads them (junk at the end makes the footer path decline the file)
  const reference = [...openSession(new Uint8Array([...many, 0xff])).session!.iterate()].map(asJson);
  const EVENTS = reference.length;

  it('reads the same number of times for 10 and for 1000 event chunks, and only the header, footer, index, chunk and keyframe lists and notes', () => {
    const nFew = fewChunks.filter((c) => c.type === 'EVTS').length;
    expect(nFew).toBeGreaterThanOrEqual(10);
    expect(nFew).toBeLessThan(20);
    expect(evts.length).toBeGreaterThanOrEqual(1000);
    const a = openCounted(few).src;
    const b = openCounted(many).src;
    expect(b.reads).toBe(a.reads);
    // what is read whole: HEAD, INDX, FOOT, KIDX, NOTE; the rest is a constant number of framing reads
    const whole = (cs: typeof fewChunks) =>
      cs.filter((c) => ['HEAD', 'INDX', 'CLST', 'FOOT', 'KIDX', 'NOTE'].includes(c.type)).reduce((n, c) => n + 16 + c.length, 0);
    expect(b.bytes - whole(manyChunks)).toBe(a.bytes - whole(fewChunks));
    expect(b.bytes - whole(manyChunks)).toBeLessThan(200);
  });

  it('finds what the chunks hold: every event, the keyframes the KIDX lists, the note', () => {
    const { session } = openCounted(many);
    expect(session.eventCount).toBe(EVENTS);
    expect(session.lanes.reduce((n, l) => n + l.chunks.length, 0)).toBe(evts.length);
    expect(session.keyframes.map((k) => k.offset)).toEqual(manyChunks.filter((c) => c.type === 'KEYF').map((c) => c.offset));
    expect(session.keyframes.length).toBe(Math.floor((EVENTS - 1) / KEYFRAME_EVENTS));
    expect(session.notes().map((n) => n.text)).toEqual(['look here']);
    expect([...session.iterate()].map(asJson)).toEqual(reference);
    expect(session.diagnostics).toEqual([]);
  });

  it("a flipped byte in an event chunk's prefix is found when the chunk is read and costs exactly that chunk", () => {
    const victim = evts[Math.floor(evts.length / 2)]!;
    const b = many.slice();
    b[victim.offset + 8 + 24]! ^= 0x04; // tMin
    const { session, diagnostics } = openSession(b);
    expect(diagnostics).toEqual([]);
    const got = [...session!.iterate()].map(asJson);
    expect(diagnostics.map((d) => [d.severity, d.code, d.byteOffset])).toEqual([['dataLoss', 'damaged_chunk', victim.offset]]);
    expect(got.length).toBe(EVENTS - countAt(many, victim.offset));
    const known = new Set(reference);
    expect(got.every((e) => known.has(e))).toBe(true);
  });

  it('a checksum-valid event chunk whose prefix disagrees with the index: index_mismatch on first use, that chunk only', () => {
    const victim = evts[7]!;
    const b = many.slice();
    const dv = new DataView(b.buffer);
    dv.setFloat64(victim.offset + 8 + 32, dv.getFloat64(victim.offset + 8 + 32, true) + 1, true); // tMax
    reframe(b, victim.offset);
    const { session, diagnostics } = openSession(b);
    expect(diagnostics).toEqual([]);
    expect([...session!.iterate()].length).toBe(EVENTS - countAt(many, victim.offset));
    expect(diagnostics.map((d) => [d.severity, d.code, d.byteOffset])).toEqual([['dataLoss', 'index_mismatch', victim.offset]]);
    expect(diagnostics[0]!.message).toMatch(/tMax .* in the chunk, .* in the index/);
    // the strict reading of the same file (the footer path declines a file with junk at its end) keeps the chunk
    const strict = openSession(new Uint8Array([...b, 0xff, 0xff]));
    expect([...strict.session!.iterate()].length).toBe(EVENTS);
  });

  it("mmu-lab info's checksum pass finds the same damage without decoding", () => {
    const victim = evts[3]!;
    const b = many.slice();
    b[victim.offset + 8 + victim.length + 1]! ^= 0x80; // the checksum
    const { session, diagnostics } = openSession(b);
    for (const lane of session!.lanes) for (const ch of lane.chunks) session!.checksumChunk(ch);
    expect(diagnostics.map((d) => [d.code, d.byteOffset])).toEqual([['damaged_chunk', victim.offset]]);
  });

  it('a damaged keyframe listed by the KIDX is skipped for the one before it: state queries stay exact', () => {
    const keyf = manyChunks.filter((c) => c.type === 'KEYF');
    const victim = keyf[10]!;
    const b = many.slice();
    b[victim.offset + 8 + 32 + 5]! ^= 0x20;
    const { session, diagnostics } = openSession(b);
    expect(diagnostics).toEqual([]);
    const k = session!.keyframes.find((x) => x.offset === victim.offset)!;
    const events = [...session!.iterate()];
    const replay = new PageState(session!.header.vms);
    for (let i = 0; i < k.applied + 5; i++) replay.apply(events[i]!, i);
    expect(Buffer.from(session!.stateBefore(k.applied + 5).encode()).equals(Buffer.from(replay.encode()))).toBe(true);
    expect(session!.verifyKeyframes().problems).toEqual([expect.stringMatching(/cannot be read: its checksum does not match/)]);
  });

  it('a file cut inside its keyframe list opens by the walk: truncated_annex, every event', () => {
    const kidx = manyChunks.find((c) => c.type === 'KIDX')!;
    const { session, diagnostics } = openSession(many.subarray(0, kidx.offset + 40));
    expect(diagnostics.map((d) => [d.severity, d.code, d.byteOffset])).toEqual([['info', 'truncated_annex', kidx.offset]]);
    expect(session!.eventCount).toBe(EVENTS);
    expect(session!.keyframes.length).toBe(Math.floor((EVENTS - 1) / KEYFRAME_EVENTS));
  });

  it('files the footer path declines (no footer, damaged footer or index, junk at the end) keep the strict scan', () => {
    const foot = manyChunks.find((c) => c.type === 'FOOT')!;
    const indx = manyChunks.find((c) => c.type === 'INDX')!;
    const footFlip = many.slice();
    footFlip[foot.offset + 12]! ^= 0x01;
    const indxFlip = many.slice();
    indxFlip[indx.offset + 30]! ^= 0x01;
    const cases: [Uint8Array, string[]][] = [
      [many.subarray(0, indx.offset), ['recording_incomplete']],
      [footFlip, ['damaged_chunk', 'recording_incomplete', 'index_rebuilt']],
      [indxFlip, ['damaged_chunk', 'index_rebuilt']],
      [new Uint8Array([...many, ...new Uint8Array(40).fill(0xff)]), ['damaged_chunk']],
    ];
    for (const [bytes, codes] of cases) {
      const { session, diagnostics } = openSession(bytes);
      expect(diagnostics.map((d) => d.code)).toEqual(codes);
      expect(session!.lanes.every((l) => l.chunks.every((ch) => !ch.unverified))).toBe(true);
    }
  });

  /** Events per type, exits per reason and per lane, counted from the events themselves. */
  function counted(session: SessionReader) {
    const types: Record<string, number> = {};
    const exits: Record<string, number> = {};
    const lanes = new Map<string, { events: number; exits: number }>();
    for (const e of session.iterate()) {
      types[e.type] = (types[e.type] ?? 0) + 1;
      const lane = lanes.get(`${e.vm}/${e.vcpu}`) ?? { events: 0, exits: 0 };
      lane.events++;
      if (e.type === 'vmexit') {
        exits[e.reason] = (exits[e.reason] ?? 0) + 1;
        lane.exits++;
      }
      lanes.set(`${e.vm}/${e.vcpu}`, lane);
    }
    const vcpus = session.lanes.map((l) => ({ vm: l.vm, vcpu: l.vcpu, ...(lanes.get(`${l.vm}/${l.vcpu}`) ?? { events: 0, exits: 0 }) }));
    return { eventsByType: { ...types }, exitsByReason: { ...exits }, vcpus };
  }
  const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

  it("the first summary comes from the footer's totals, without the index's statistics, and says what the events say", () => {
    const { session } = openCounted(many);
    const s = session.summary();
    expect(session.lanes.every((l) => l.chunks.every((ch) => ch.stats === undefined))).toBe(true);
    const c = counted(session);
    expect(plain({ eventsByType: s.eventsByType, exitsByReason: s.exitsByReason, vcpus: s.vcpus })).toEqual(c);
  });

  it('counters load the index once and count what the events say; an index that disagrees is rebuilt from the chunks', () => {
    const indx = manyChunks.find((c) => c.type === 'INDX')!;
    // a checksum-valid index whose first entry claims one more event: it no longer lists the chunks the chunk list does
    const b = many.slice();
    const dv = new DataView(b.buffer);
    const raw = inflateRawSync(b.subarray(indx.offset + 12, indx.offset + 8 + indx.length));
    const json = JSON.parse(raw.toString('utf8')) as { chunks: { count: number }[] };
    json.chunks[0]!.count += 1;
    const z = deflateRawSync(Buffer.from(JSON.stringify(json)), { level: 9 });
    const payload = new Uint8Array(4 + z.length);
    new DataView(payload.buffer).setUint32(0, JSON.stringify(json).length, true);
    payload.set(z, 4);
    expect(payload.length).toBeLessThanOrEqual(indx.length);
    // keep every offset: the new index goes in the old one's place, zero-padded to its length
    expect(dv.getUint32(indx.offset + 4, true)).toBe(indx.length);
    for (const [bytes, rebuilt] of [
      [many, false],
      [withIndexPayload(b, indx, payload), true],
    ] as const) {
      const { session, diagnostics } = openSession(bytes);
      expect(diagnostics).toEqual([]);
      // the whole session's counters come from the chunks' statistics (a range's from the summaries)
      const mid = session!.startNs + (session!.endNs - session!.startNs) / 2;
      for (const [got, end] of [
        [session!.counters(), Infinity],
        [session!.counters(session!.startNs, mid), mid],
      ] as const) {
        const want: Record<string, number> = {};
        let events = 0;
        for (const e of session!.iterate()) {
          if (e.t > end) continue;
          events++;
          if (e.type === 'vmexit') want[e.reason] = (want[e.reason] ?? 0) + 1;
        }
        expect(got.events).toBe(events);
        expect(plain(got.exitsByReason)).toEqual(want);
      }
      expect(diagnostics.map((d) => [d.severity, d.code])).toEqual(rebuilt ? [['info', 'index_rebuilt']] : []);
    }
  });

  it('footer totals that disagree with the chunk list are not used: the summary is counted from the chunks', () => {
    const foot = manyChunks.find((c) => c.type === 'FOOT')!;
    const b = many.slice();
    const text = Buffer.from(b.subarray(foot.offset + 8, foot.offset + 8 + foot.length)).toString('latin1');
    const at = foot.offset + 8 + text.indexOf('"types":{') + '"types":{'.length;
    const digit = text.indexOf(',', at - foot.offset - 8) + foot.offset + 8 - 1; // the last digit of the first type's count
    b[digit] = b[digit] === 0x31 ? 0x32 : 0x31;
    reframe(b, foot.offset);
    const { session, diagnostics } = openSession(b);
    expect(diagnostics).toEqual([]);
    const s = session!.summary();
    expect(plain({ eventsByType: s.eventsByType, exitsByReason: s.exitsByReason, vcpus: s.vcpus })).toEqual(counted(session!));
  });
});

/** `bytes` with the INDX chunk's payload replaced by `payload` (no longer than the old one), zero-padded, its checksum recomputed. */
function withIndexPayload(bytes: Uint8Array, indx: { offset: number; length: number }, payload: Uint8Array): Uint8Array {
  const b = bytes.slice();
  b.fill(0, indx.offset + 8, indx.offset + 8 + indx.length);
  b.set(payload, indx.offset + 8);
  reframe(b, indx.offset);
  return b;
}
