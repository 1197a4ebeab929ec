import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { eventToJson, type MmuEvent } from '../core/events.ts';
import { SessionWriter } from './writer.ts';
import { openSession, type SessionReader } from './reader.ts';
import { exportChrome, exportCsvTable, exportJsonl } from './export.ts';
import { countersView } from './views.ts';
import { canonicalOrder, syntheticEvents } from './testing/synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VCPUS = [2, 1];
const scenario = { name: 'synthetic', seed: 7, vms: VCPUS.map((vcpus) => ({ vcpus })) };

function write(name: string, events: MmuEvent[], chunkEvents: number, close: 'complete' | 'stopped' | 'none' = 'complete'): string {
  const path = join(dir, name);
  const w = SessionWriter.create(path, { scenario, vcpus: VCPUS }, { chunkEvents });
  for (const e of events) w.append(e);
  if (close === 'complete') w.close({ complete: true });
  else if (close === 'stopped') w.close({ complete: false, message: 'stopped by the user' });
  return path;
}

function mustOpen(input: string | Uint8Array): SessionReader {
  const { session, diagnostics } = openSession(input);
  expect(session, JSON.stringify(diagnostics)).toBeDefined();
  return session!;
}

const asJson = (e: MmuEvent) => JSON.stringify(eventToJson(e));
const laneKey = (e: { vm: number; vcpu: number }) => `${e.vm}/${e.vcpu}`;

describe('round trip', () => {
  const events = syntheticEvents(40_000, { seed: 3, vcpus: VCPUS });
  const expected = canonicalOrder(events);
  const path = write('round.mmulab', events, 1000);
  const s = mustOpen(path);

  it('opens clean and complete', () => {
    expect(openSession(path).diagnostics).toEqual([]);
    expect(s.complete).toBe(true);
    expect(s.eventCount).toBe(events.length);
  });

  it('reads back every event, in canonical order, exactly', () => {
    const got = [...s.iterate()];
    expect(got.length).toBe(expected.length);
    for (let i = 0; i < got.length; i++) expect(got[i]).toEqual(expected[i]);
  });

  it('events(from, count) is the JSONL shape at any position, across checkpoints', () => {
    for (const from of [0, 1, 16_383, 16_384, 39_990, 25_000, 3, 39_999, 40_000]) {
      const r = s.events(from, 7);
      expect(r.total).toBe(events.length);
      expect(r.events.map((e) => JSON.stringify(e))).toEqual(expected.slice(from, from + 7).map(asJson));
    }
  });

  it('events filtered by type count and page within that type', () => {
    const exits = expected.filter((e) => e.type === 'vmexit' || e.type === 'lock_wait');
    for (const from of [0, 5, 12_000, exits.length - 2]) {
      const r = s.events(from, 5, ['vmexit', 'lock_wait']);
      expect(r.total).toBe(exits.length);
      expect(r.events.map((e) => JSON.stringify(e))).toEqual(exits.slice(from, from + 5).map(asJson));
    }
  });

  it('summary counts what was written', () => {
    const sum = s.summary();
    const byType: Record<string, number> = {};
    const byReason: Record<string, number> = {};
    for (const e of events) {
      byType[e.type] = (byType[e.type] ?? 0) + 1;
      if (e.type === 'vmexit') byReason[e.reason] = (byReason[e.reason] ?? 0) + 1;
    }
    expect(sum.eventsByType).toEqual(byType);
    expect(sum.exitsByReason).toEqual(byReason);
    expect(sum.vms).toBe(2);
    expect(sum.vcpus.map((v) => [v.vm, v.vcpu])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
    ]);
    for (const v of sum.vcpus) {
      const mine = events.filter((e) => e.vm === v.vm && e.vcpu === v.vcpu);
      expect(v.events).toBe(mine.length);
      expect(v.exits).toBe(mine.filter((e) => e.type === 'vmexit').length);
    }
    expect(sum.startNs).toBe(Math.min(...events.map((e) => e.t)));
  });

  it('timeline: exact exit counts, slices point at their exits, merged per bucket', () => {
    const t0 = s.startNs;
    const t1 = s.endNs;
    const few = s.timeline(t0, t1, 50);
    const many = s.timeline(t0, t1, 20_000);
    for (const tl of [few, many]) {
      for (const lane of tl.lanes) {
        const mine = events.filter((e) => e.type === 'vmexit' && e.vm === lane.vm && e.vcpu === lane.vcpu);
        expect(lane.exits).toBe(mine.length);
        expect(lane.slices.reduce((a, x) => a + x.count, 0)).toBe(mine.length);
      }
    }
    // merged on a power-of-two grid no wider than a pixel: every slice's exits start in one cell
    let cell = 1;
    while (cell * 2 <= (t1 - t0) / 50) cell *= 2;
    for (const lane of few.lanes) {
      const starts = events.filter((e) => e.type === 'vmexit' && e.vm === lane.vm && e.vcpu === lane.vcpu).map((e) => e.t);
      for (const sl of lane.slices) {
        const b = Math.floor(sl.t0 / cell);
        expect(sl.count).toBe(starts.filter((t) => Math.floor(t / cell) === b).length);
      }
      expect(lane.slices.length).toBeLessThanOrEqual(2 * 50 + 1);
    }
    // zoomed in: one slice per exit, and `index` finds that very exit in the canonical order
    const lane = many.lanes[1]!;
    for (const sl of lane.slices.slice(0, 200)) {
      expect(sl.count).toBe(1);
      const e = expected[sl.index]!;
      expect(e.type).toBe('vmexit');
      expect([e.vm, e.vcpu, e.t]).toEqual([lane.vm, lane.vcpu, sl.t0]);
      if (e.type === 'vmexit') expect(sl.t1).toBe(e.t + e.duration);
    }
  });

  it('timeline of a window counts the exits overlapping it', () => {
    const a = s.startNs + Math.floor((s.endNs - s.startNs) / 3);
    const b = a + 20_000;
    const tl = s.timeline(a, b, 100_000);
    for (const lane of tl.lanes) {
      const n = events.filter((e) => e.type === 'vmexit' && e.vm === lane.vm && e.vcpu === lane.vcpu && e.t <= b && e.t + e.duration >= a).length;
      expect(lane.exits).toBe(n);
    }
  });

  it('counters over a range', () => {
    const a = s.startNs + 12_345;
    const b = s.endNs - 54_321;
    const c = s.counters(a, b);
    const inRange = events.filter((e) => e.t >= a && e.t <= b);
    expect(c.events).toBe(inRange.length);
    const byHandling: Record<string, number> = {};
    for (const e of inRange) if (e.type === 'vmexit') byHandling[e.handling] = (byHandling[e.handling] ?? 0) + 1;
    expect(c.exitsByHandling).toEqual(byHandling);
    const all = s.counters();
    expect(all.events).toBe(events.length);
  });

  it('exports JSONL identical to eventToJson of the canonical order', () => {
    let text = '';
    const n = exportJsonl(s, (x) => (text += x));
    expect(n).toBe(events.length);
    expect(text).toBe(expected.map((e) => asJson(e) + '\n').join(''));
  });

  it('exports CSV tables with the columns of the event table', () => {
    let text = '';
    exportCsvTable(s, 'guest_access', (x) => (text += x));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('t,vm,vcpu,va,access,cpl,result,errorCode,gpa');
    expect(lines.length - 1).toBe(events.filter((e) => e.type === 'guest_access').length);
  });

  it('exports a Chrome trace with exits as complete slices', () => {
    let text = '';
    exportChrome(s, (x) => (text += x));
    const trace = JSON.parse(text) as { traceEvents: { ph: string; name: string; pid: number; tid: number; ts: number; dur?: number; cat?: string; args?: Record<string, unknown> }[] };
    const x = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'vmexit');
    expect(x.length).toBe(events.filter((e) => e.type === 'vmexit').length);
    for (const e of trace.traceEvents) {
      expect(['M', 'X', 'i']).toContain(e.ph);
      expect(Number.isInteger(e.pid) && Number.isInteger(e.tid)).toBe(true);
      if (e.ph !== 'M') expect(typeof e.ts).toBe('number');
    }
    const first = x[0]!;
    expect(first.args).toHaveProperty('reason', first.name);
    expect(first.args).toHaveProperty('handling');
    expect(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').length).toBe(3);
  });

  it('the index is only an optimization: without it the same summary and counters, and an info note', () => {
    const bytes = new Uint8Array(readFileSync(path));
    // find the INDX chunk by its type bytes near the end and break its checksum
    const text = Buffer.from(bytes).toString('latin1');
    const at = text.lastIndexOf('INDX');
    expect(at).toBeGreaterThan(0);
    bytes[at + 12]! ^= 0xff;
    const r = openSession(bytes);
    expect(r.diagnostics.map((d) => d.code).sort()).toEqual(['damaged_chunk', 'index_rebuilt']);
    expect(r.session!.summary()).toEqual(s.summary());
    expect(r.session!.counters(1000, s.endNs - 1000)).toEqual(s.counters(1000, s.endNs - 1000));
    expect(r.session!.counters()).toEqual(s.counters());
  });

  it('timelines and counters are the same when the column cache holds only a few chunks', () => {
    const small = mustOpen(path);
    s.timeline(s.startNs, s.endNs, 10); // every chunk's columns, within the default budget
    const chunkBytes = s.columnCache.bytes / s.columnCache.chunks;
    small.columnCacheBudget = 3 * chunkBytes;
    for (const [a, b, buckets] of [
      [s.startNs, s.endNs, 2000],
      [s.startNs, s.endNs, 50_000],
      [s.startNs + (s.endNs - s.startNs) / 3, s.startNs + (s.endNs - s.startNs) / 2, 300],
    ] as const) {
      expect(small.timeline(a, b, buckets)).toEqual(s.timeline(a, b, buckets));
      expect(small.columnCache.bytes).toBeLessThanOrEqual(small.columnCache.budget + chunkBytes);
    }
    expect(countersView(small, s.startNs, s.endNs)).toEqual(countersView(s, s.startNs, s.endNs));
    expect(small.columnCache.chunks).toBeLessThanOrEqual(4);
    expect(s.columnCache.chunks).toBe(s.lanes.reduce((n, l) => n + l.chunks.length, 0));
  });

  it('is compact: well under 16 bytes per event', () => {
    expect(statSync(path).size / events.length).toBeLessThan(16);
  });
});

describe('opening without reading it all', () => {
  const events = syntheticEvents(20_000, { seed: 5, vcpus: VCPUS });
  const clean = write('lazy.mmulab', events, 500);
  const bytes = new Uint8Array(readFileSync(clean));
  // the chunks, walked by the framing docs/session-format.md gives: type | length | payload | crc | length
  const chunks: { offset: number; type: string; length: number }[] = [];
  for (let off = 16; off < bytes.length; ) {
    const length = Buffer.from(bytes).readUInt32LE(off + 4);
    chunks.push({ offset: off, type: Buffer.from(bytes.subarray(off, off + 4)).toString('latin1'), length });
    off += 16 + length;
  }
  const evts = chunks.filter((c) => c.type === 'EVTS');
  const victim = evts[Math.floor(evts.length / 2)]!;

  it('a damaged event body in a closed file is found when it is read, not at open, and costs only its chunk', () => {
    const b = bytes.slice();
    b[victim.offset + 8 + 56 + 3]! ^= 0x40; // inside the body, after the 56-byte prefix
    const path = join(dir, 'lazy-damaged.mmulab');
    writeFileSync(path, b);
    const { session, diagnostics } = openSession(path);
    expect(diagnostics).toEqual([]);
    expect(session!.eventCount).toBe(events.length);
    const got = [...session!.iterate()];
    const lost = diagnostics.filter((d) => d.code === 'damaged_chunk');
    expect(lost.map((d) => [d.severity, d.byteOffset])).toEqual([['dataLoss', victim.offset]]);
    const perChunk = Buffer.from(bytes).readUInt32LE(victim.offset + 8 + 16); // the prefix's event count
    expect(got.length).toBe(events.length - perChunk);
    const known = new Set(events.map(asJson));
    expect(got.every((e) => known.has(asJson(e)))).toBe(true);
  });

  it('damage to the index of a closed file is still found at open', () => {
    const indx = chunks.find((x) => x.type === 'INDX')!;
    const b = bytes.slice();
    b[indx.offset + 8 + indx.length + 4]! ^= 0x01; // the trailing length
    const { diagnostics } = openSession(b);
    expect(diagnostics.map((d) => d.code)).toContain('damaged_chunk');
  });

  it("damage to an event chunk's framing in a closed file is found when the chunk is read, and costs only that chunk", () => {
    // an open from the footer trusts the checksummed index for where the chunks are
    // (docs/session-format.md, "Opening a file without reading it all"), so the damage moves
    // from open to first use; the strict scan lost the same chunk at open
    const c = evts[1]!;
    const perChunk = Buffer.from(bytes).readUInt32LE(c.offset + 8 + 16);
    for (const at of [c.offset + 8 + c.length + 4, c.offset + 4, c.offset]) {
      const b = bytes.slice();
      b[at]! ^= 0x01; // the trailing length, the leading length, the type
      const { session, diagnostics } = openSession(b);
      expect(diagnostics).toEqual([]);
      expect([...session!.iterate()].length).toBe(events.length - perChunk);
      expect(diagnostics.map((d) => [d.severity, d.code, d.byteOffset])).toEqual([['dataLoss', 'damaged_chunk', c.offset]]);
    }
  });

  it('a file removed or cut short after it was opened: one clear diagnostic, no throw', () => {
    const path = join(dir, 'lazy-gone.mmulab');
    writeFileSync(path, bytes);
    const { session, diagnostics } = openSession(path);
    writeFileSync(path, bytes.subarray(0, victim.offset));
    expect([...session!.iterate()].length).toBeLessThan(events.length);
    expect(diagnostics.find((d) => d.code === 'unreadable_chunk')?.message).toMatch(/shorter than when it was opened/);
    rmSync(path);
    const again = openSession(path);
    expect(again.session).toBeUndefined();
    expect(again.diagnostics[0]!.message).toMatch(/no such file/);
  });
});

describe('recording states', () => {
  it('a stopped recording is readable and says why', () => {
    const ev = syntheticEvents(100, { seed: 9, vcpus: VCPUS });
    const { session, diagnostics } = openSession(write('stopped.mmulab', ev, 16, 'stopped'));
    expect(session?.complete).toBe(false);
    expect(session?.eventCount).toBe(100);
    expect(diagnostics.map((d) => [d.severity, d.code])).toEqual([['info', 'recording_stopped']]);
    expect(diagnostics[0]!.message).toContain('stopped by the user');
  });

  it('an empty session opens', () => {
    const s = mustOpen(write('empty.mmulab', [], 16));
    expect(s.eventCount).toBe(0);
    expect(s.timeline(0, 100, 10).lanes.every((l) => l.exits === 0)).toBe(true);
    expect(s.events(0, 10).events).toEqual([]);
  });

  it('the writer refuses a vCPU the session does not have and time going backwards', () => {
    const path = join(dir, 'refuse.mmulab');
    const w = SessionWriter.create(path, { scenario, vcpus: VCPUS });
    expect(() => w.append({ t: 1, vm: 1, vcpu: 1, type: 'guest_fault', va: 0, errorCode: 0 })).toThrow(/does not have/);
    w.append({ t: 10, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: 0 });
    expect(() => w.append({ t: 9, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: 0 })).toThrow(/backwards/);
    // a bad field leaves nothing half-written: the session still reads back exactly
    expect(() => w.append({ t: 11, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: -1 })).toThrow(/non-negative integer/);
    w.append({ t: 12, vm: 0, vcpu: 0, type: 'guest_fault', va: 0x1000, errorCode: 2 });
    w.close({ complete: true });
    expect([...mustOpen(path).iterate()].map((e) => e.t)).toEqual([10, 12]);
  });

  it('texts that repeat (the same string, an equal one, past the writer\'s text cache) read back exactly', () => {
    const path = join(dir, 'texts.mmulab');
    const w = SessionWriter.create(path, { scenario, vcpus: VCPUS }, { chunkEvents: 100 });
    // 700 distinct texts (more than the cache keeps), ASCII, non-ASCII and past its length limit, each written 3 times
    const texts = Array.from({ length: 700 }, (_, i) => (i % 7 === 0 ? `é→${i}` : i % 11 === 0 ? 'x'.repeat(300 + i) : `rip=${i} len=3`));
    const written: string[] = [];
    for (let round = 0; round < 3; round++)
      texts.forEach((s, i) => {
        // round 1 passes equal strings made anew, not the same objects
        const text = round === 1 ? [...s].join('') : s;
        written.push(text);
        w.append({ t: round * 1000 + i, vm: 0, vcpu: i % 2, type: 'raw', name: 'kvm_emulate_insn', text });
      });
    w.close({ complete: true });
    const back = [...mustOpen(path).iterate()].filter((e) => e.type === 'raw').map((e) => (e as { text: string; t: number }));
    const byTime = new Map(back.map((e) => [e.t, e.text]));
    expect(back.length).toBe(written.length);
    written.forEach((text, j) => expect(byTime.get(Math.floor(j / 700) * 1000 + (j % 700))).toBe(text));
  });

  it('an event refused as the first of a chunk changes neither the lane\'s order nor its chunk', () => {
    const path = join(dir, 'refuse-first.mmulab');
    const w = SessionWriter.create(path, { scenario, vcpus: VCPUS }, { chunkEvents: 2 });
    w.append({ t: 10, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: 0 });
    w.append({ t: 20, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: 0 });
    // the lane's chunk was written: the next event starts a new one, and this one is refused
    expect(() => w.append({ t: 50, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: -1 })).toThrow(/non-negative integer/);
    expect(() => w.append({ t: 15, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: 0 })).toThrow(/15 after 20/);
    w.append({ t: 30, vm: 0, vcpu: 0, type: 'guest_fault', va: 0, errorCode: 0 });
    w.close({ complete: true });
    const s = mustOpen(path);
    expect([...s.iterate()].map((e) => e.t)).toEqual([10, 20, 30]);
  });
});

/** The chunks of a file, walked by the framing docs/session-format.md gives: type | length | payload | crc | length. */
function chunksOf(bytes: Uint8Array): { offset: number; type: string; length: number }[] {
  const out: { offset: number; type: string; length: number }[] = [];
  for (let off = 16; off + 8 <= bytes.length; ) {
    const length = Buffer.from(bytes).readUInt32LE(off + 4);
    out.push({ offset: off, type: Buffer.from(bytes.subarray(off, off + 4)).toString('latin1'), length });
    off += 16 + length;
  }
  return out;
}

describe('damage', () => {
  // A small session with lanes flushed in a known order: round-robin events, 16 per chunk, a
  // multiple of 16 per lane, so every chunk is written by an append and its end is observable.
  const events = syntheticEvents(3 * 16 * 5, { seed: 11, vcpus: VCPUS, roundRobin: true });
  const path = join(dir, 'small.mmulab');
  const w = SessionWriter.create(path, { scenario, vcpus: VCPUS }, { chunkEvents: 16 });
  /** The file size at which each event became durable (its chunk fully written). */
  const durableAt: number[] = new Array<number>(events.length).fill(Infinity);
  const pending = new Map<string, number[]>();
  events.forEach((e, i) => {
    const before = statSync(path).size;
    w.append(e);
    const after = statSync(path).size;
    const p = pending.get(laneKey(e)) ?? [];
    p.push(i);
    pending.set(laneKey(e), p);
    if (after > before) {
      for (const j of p) durableAt[j] = after;
      pending.set(laneKey(e), []);
    }
  });
  w.close({ complete: true });
  const bytes = new Uint8Array(readFileSync(path));
  const headerEnd = Math.min(...durableAt) - 1; // somewhere inside the first event chunk; the header ends before it
  const summ = chunksOf(bytes).find((c) => c.type === 'SUMM')!;

  // The durable events of a prefix change only at chunk ends: their expected form is made once per set.
  const wantedBySize = new Map<number, string[]>();
  const wantedJson = (want: MmuEvent[]) => {
    let json = wantedBySize.get(want.length);
    if (!json) wantedBySize.set(want.length, (json = canonicalOrder(want).map(asJson)));
    return json;
  };

  it('every prefix opens without throwing; its events are what was durable; the diagnostic says so', () => {
    expect([...pending.values()].every((p) => p.length === 0)).toBe(true);
    let sawMidChunk = false;
    for (let n = 0; n <= bytes.length; n++) {
      const { session, diagnostics } = openSession(bytes.subarray(0, n));
      if (n === bytes.length) {
        expect(diagnostics).toEqual([]);
        continue;
      }
      if (!session) {
        expect(n).toBeLessThan(headerEnd);
        expect(diagnostics.some((d) => d.severity === 'error')).toBe(true);
        continue;
      }
      const want = events.filter((_, i) => durableAt[i]! <= n);
      const got = [...session.iterate()];
      expect(got.map(asJson)).toEqual(wantedJson(want));
      const d = diagnostics.find((x) => x.code === 'recording_incomplete');
      expect(d?.severity).toBe('dataLoss');
      const midChunk = !durableAt.includes(n) && n > Math.min(...durableAt);
      if (midChunk && n < Math.max(...durableAt)) {
        sawMidChunk = true;
        expect(d!.message).toMatch(/cut short in the middle of a chunk/);
      }
      expect(session.complete).toBe(false);
    }
    expect(sawMidChunk).toBe(true);
    // One open per byte of the file (16 k opens): minutes on a loaded 2-core machine.
  }, 240_000);

  it('random byte flips never throw or hang; damage is reported once the events are read; no invented events', () => {
    const known = new Set(events.map(asJson));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
        (flips) => {
          const b = bytes.slice();
          for (const [at, x] of flips) b[at]! ^= x;
          // the summaries' payload and checksum: their levels carry their own checksums, checked
          // when a level is read; damage there costs an info diagnostic at most (summaries.test.ts)
          const inSummary = (at: number) => at >= summ.offset + 8 && at < summ.offset + 12 + summ.length;
          const changed = flips.some(([at]) => b[at] !== bytes[at] && (at < 12 || at > 15) && !inSummary(at));
          const { session, diagnostics } = openSession(b);
          if (!session) {
            expect(diagnostics.some((d) => d.severity === 'error')).toBe(true);
            return;
          }
          // a clean-looking closed file is opened without reading its event payloads: damage
          // inside one is found (and added to the same diagnostics) when it is read
          for (const e of session.iterate()) expect(known.has(asJson(e))).toBe(true);
          if (changed) expect(diagnostics.some((d) => d.severity !== 'info')).toBe(true);
          session.summary();
          session.timeline(0, session.endNs, 7);
          session.counters(0, session.endNs / 2);
          session.events(3, 5, ['vmexit']);
        },
      ),
      { numRuns: 1500, seed: 42 },
    );
  });

  it('hostile chunks (huge lengths, unknown types, garbage after the footer) become diagnostics', () => {
    const junk = new Uint8Array(64).fill(0xff);
    const { session, diagnostics } = openSession(new Uint8Array([...bytes, ...junk]));
    expect(session?.eventCount).toBe(events.length);
    expect(diagnostics.map((d) => d.code)).toContain('damaged_chunk');
    // a chunk of an unknown type, correctly framed, is skipped as info
    const payload = new TextEncoder().encode('future data');
    const chunk = new Uint8Array(16 + payload.length);
    const dv = new DataView(chunk.buffer);
    dv.setUint32(0, 0x41525458, true); // "XTRA" (NOTE and KEYF are known chunk types since keyframes and notes)
    dv.setUint32(4, payload.length, true);
    chunk.set(payload, 8);
    let c = ~0 >>> 0;
    for (const x of chunk.subarray(0, 8 + payload.length)) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    dv.setUint32(8 + payload.length, ~c >>> 0, true);
    dv.setUint32(12 + payload.length, payload.length, true);
    const r2 = openSession(new Uint8Array([...bytes, ...chunk]));
    expect(r2.session?.eventCount).toBe(events.length);
    expect(r2.diagnostics.map((d) => [d.severity, d.code])).toEqual([['info', 'unknown_chunk']]);
  });

  it('not a session, a newer format, an empty file, a missing file', () => {
    const notSession = join(dir, 'x.txt');
    writeFileSync(notSession, 'hello, world\n');
    for (const [input, code] of [
      [notSession, 'not_a_session'],
      [new Uint8Array(0), 'not_a_session'],
      [join(dir, 'missing.mmulab'), 'cannot_open'],
      [dir, 'cannot_open'],
    ] as const) {
      const r = openSession(input);
      expect(r.session).toBeUndefined();
      expect(r.diagnostics.map((d) => [d.severity, d.code])).toEqual([['error', code]]);
    }
    const newer = bytes.slice();
    newer[8] = 2; // formatMajor 2
    expect(openSession(newer).diagnostics[0]).toMatchObject({ severity: 'error', code: 'unsupported_version' });
    const needsNewerReader = bytes.slice();
    needsNewerReader[10] = 9;
    expect(openSession(needsNewerReader).diagnostics[0]!.message).toMatch(/newer MMU Lab/);
  });
});
