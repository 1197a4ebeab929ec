/**
 * The session summaries (sessions/mipmap.ts, the SUMM chunk): every bin of every level equals a
 * count made event by event; timelines and densities answered from them equal the ones counted
 * from the JSONL export one event at a time; a file without them (an older file) and a file whose
 * summaries are damaged give the very same answers (the latter with one info diagnostic).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { MmuEvent } from '../core/events.ts';
import { LaneMipmapBuilder, MIN_EVENTS_PER_BIN, decodeLevel, type Level, type SummaryDirectory } from './mipmap.ts';
import { FormatError, crc32 } from './format.ts';
import { DecodedLevels, LevelBins } from './read/summaryLevel.ts';
import { SessionWriter } from './writer.ts';
import { openSession, type SessionReader } from './reader.ts';
import { syntheticEvents } from './testing/synthetic.ts';
import { countersView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-summaries-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ev {
  t: number;
  type: number;
  exit?: { dur: number; reason: number; handling: number };
}

/** A bin counted the plain way. */
interface PlainBin {
  events: number;
  types: Map<number, number>;
  exits: number;
  firstExitT: number;
  maxExitEnd: number;
  reasons: Map<number, number>;
  handlings: Map<number, number>;
  /** Per reason and per handling: [total, min, max] of the exits' durations. */
  reasonNs: Map<number, [number, number, number]>;
  handlingNs: Map<number, [number, number, number]>;
}

function addNs(m: Map<number, [number, number, number]>, id: number, d: number): void {
  const x = m.get(id);
  m.set(id, x ? [x[0] + d, Math.min(x[1], d), Math.max(x[2], d)] : [d, d, d]);
}

function plainBins(events: Ev[], k: number): Map<number, PlainBin> {
  const bins = new Map<number, PlainBin>();
  for (const e of events) {
    const i = Math.floor(e.t / 2 ** k);
    let b = bins.get(i);
    if (!b) bins.set(i, (b = { events: 0, types: new Map(), exits: 0, firstExitT: Infinity, maxExitEnd: -1, reasons: new Map(), handlings: new Map(), reasonNs: new Map(), handlingNs: new Map() }));
    b.events++;
    b.types.set(e.type, (b.types.get(e.type) ?? 0) + 1);
    if (e.exit) {
      b.exits++;
      b.firstExitT = Math.min(b.firstExitT, e.t);
      b.maxExitEnd = Math.max(b.maxExitEnd, e.t + e.exit.dur);
      b.reasons.set(e.exit.reason, (b.reasons.get(e.exit.reason) ?? 0) + 1);
      b.handlings.set(e.exit.handling, (b.handlings.get(e.exit.handling) ?? 0) + 1);
      addNs(b.reasonNs, e.exit.reason, e.exit.dur);
      addNs(b.handlingNs, e.exit.handling, e.exit.dur);
    }
  }
  return bins;
}

function pairs(level: Level, start: Uint32Array, ids: ArrayLike<number>, ns: ArrayLike<number>, b: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let j = start[b]!; j < start[b + 1]!; j++) m.set(ids[j]!, ns[j]!);
  return m;
}

describe('levels', () => {
  const lane = fc
    .array(
      fc.record({
        // bursts (0), dense steps, and now and then a long quiet stretch
        gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 10_000, max: 5_000_000 })),
        type: fc.integer({ min: 0, max: 6 }),
        exit: fc.option(fc.record({ dur: fc.integer({ min: 0, max: 5000 }), reason: fc.integer({ min: 0, max: 3 }), handling: fc.integer({ min: 0, max: 2 }) })),
      }),
      { minLength: 0, maxLength: 3000 },
    )
    .map((steps) => {
      let t = 0;
      return steps.map((s): Ev => {
        t += s.gap;
        return s.exit ? { t, type: 7, exit: s.exit } : { t, type: s.type };
      });
    });

  it('every bin of every kept level is the count made event by event', () => {
    fc.assert(
      fc.property(lane, (events) => {
        const b = new LaneMipmapBuilder();
        for (const e of events) b.add(e.t, e.type, e.exit?.dur, e.exit?.reason, e.exit?.handling);
        const levels = b.finish();
        if (events.length < MIN_EVENTS_PER_BIN) expect(levels).toEqual([]);
        let prevK = -1;
        for (const enc of levels) {
          expect(enc.k).toBeGreaterThan(prevK);
          if (prevK >= 0) expect(enc.k - prevK).toBe(2); // consecutive levels, 4× apart
          prevK = enc.k;
          expect(enc.bins).toBeLessThanOrEqual(events.length / MIN_EVENTS_PER_BIN);
          const level = decodeLevel(enc.k, enc.bins, enc.bytes, 8, 4);
          const want = plainBins(events, enc.k);
          expect([...level.idx]).toEqual([...want.keys()]);
          [...want.values()].forEach((p, i) => {
            expect(level.events[i]).toBe(p.events);
            expect(pairs(level, level.typeStart, level.typeId, level.typeN, i)).toEqual(p.types);
            expect(level.exits[i]).toBe(p.exits);
            if (p.exits) {
              expect([level.firstExitT[i], level.maxExitEnd[i]]).toEqual([p.firstExitT, p.maxExitEnd]);
              expect(pairs(level, level.reasonStart, level.reasonId, level.reasonN, i)).toEqual(p.reasons);
              expect(pairs(level, level.handlingStart, level.handlingId, level.handlingN, i)).toEqual(p.handlings);
              const ns = (start: Uint32Array, ids: Uint32Array, tot: Float64Array, lo: Float64Array, hi: Float64Array) => {
                const m = new Map<number, [number, number, number]>();
                for (let j = start[i]!; j < start[i + 1]!; j++) m.set(ids[j]!, [tot[j]!, lo[j]!, hi[j]!]);
                return m;
              };
              expect(ns(level.reasonStart, level.reasonId, level.reasonNs, level.reasonMin, level.reasonMax)).toEqual(p.reasonNs);
              expect(ns(level.handlingStart, level.handlingId, level.handlingNs, level.handlingMin, level.handlingMax)).toEqual(p.handlingNs);
            }
          });
        }
        // the coarsest kept level holds the whole lane in one bin
        if (levels.length) expect(levels[levels.length - 1]!.bins).toBe(1);
      }),
      { numRuns: 150, seed: 17 },
    );
  });
});

describe('level slices', () => {
  // a lane long enough that its finest kept level spans many of LevelBins' blocks (64 bins)
  let t = 0;
  let x = 99;
  const rand = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff) % n);
  const events: Ev[] = Array.from({ length: 300_000 }, (_, i) => {
    t += rand(8) === 0 ? rand(400_000) : rand(200);
    return i % 5 === 0 ? { t, type: 7, exit: { dur: rand(5000), reason: rand(4), handling: rand(3) } } : { t, type: rand(7) };
  });
  const b = new LaneMipmapBuilder();
  for (const e of events) b.add(e.t, e.type, e.exit?.dur, e.exit?.reason, e.exit?.handling);
  const levels = b.finish();

  // kept encoded (a window decoded per slice) and kept decoded whole
  it.each([0, Infinity])('the bins of a slice are those of the whole level in its range, every column (levels of over %d bytes kept encoded)', (wholeBytes) => {
    expect(levels[0]!.bins).toBeGreaterThan(10 * 64);
    // no room for two decoded levels: each level's columns are dropped when the next is used
    const decoded = new DecodedLevels(0);
    const kept: LevelBins[] = [];
    for (const enc of levels) {
      const whole = decodeLevel(enc.k, enc.bins, enc.bytes, 8, 4);
      const plain = [...plainBins(events, enc.k).entries()];
      const bins = LevelBins.check(enc.k, enc.bins, enc.bytes, 8, 4, events.length, decoded, wholeBytes);
      kept.push(bins);
      const last = whole.idx[whole.idx.length - 1]!;
      const ranges: [number, number][] = [[0, Infinity], [0, 1], [last, last + 1], [last + 1, last + 9], [whole.idx[1] ?? 1, whole.idx[1] ?? 1], [9, 3]];
      for (let i = 0; i < 40; i++) {
        const a = rand(last + 2);
        ranges.push([a, a + rand(Math.max(2, last / 8))]);
      }
      for (const [from, to] of ranges) {
        const run = bins.slice(from, to);
        const s = run.level;
        const inRange = plain.filter(([i]) => i >= from && i < to);
        expect(run.binTo - run.binFrom).toBe(inRange.length);
        expect([...s.idx.subarray(run.binFrom, run.binTo)]).toEqual(inRange.map(([i]) => i));
        expect([...s.events.subarray(run.binFrom, run.binTo)]).toEqual(inRange.map(([, p]) => p.events));
        const b0 = inRange.length ? whole.idx.indexOf(inRange[0]![0]) : 0;
        inRange.forEach(([, p], n) => {
          const j = run.binFrom + n;
          expect(pairs(s, s.typeStart, s.typeId, s.typeN, j)).toEqual(p.types);
          expect(pairs(s, s.reasonStart, s.reasonId, s.reasonN, j)).toEqual(p.reasons);
          expect(pairs(s, s.handlingStart, s.handlingId, s.handlingN, j)).toEqual(p.handlings);
          for (const col of ['exits', 'firstExitT', 'maxExitEnd'] as const) expect(s[col][j]).toBe(whole[col][b0 + n]);
          const span = (st: Uint32Array, b: number) => [st[b]!, st[b + 1]!] as const;
          const [r0, r1] = span(whole.reasonStart, b0 + n);
          const [q0] = span(s.reasonStart, j);
          for (const col of ['reasonNs', 'reasonMin', 'reasonMax'] as const) expect([...s[col].subarray(q0, q0 + r1 - r0)]).toEqual([...whole[col].subarray(r0, r1)]);
          const [h0, h1] = span(whole.handlingStart, b0 + n);
          const [g0] = span(s.handlingStart, j);
          for (const col of ['handlingNs', 'handlingMin', 'handlingMax'] as const) expect([...s[col].subarray(g0, g0 + h1 - h0)]).toEqual([...whole[col].subarray(h0, h1)]);
        });
      }
    }
    // a dropped level decodes again
    kept.forEach((bins, i) => {
      const run = bins.slice(0, Infinity);
      expect([...run.level.events.subarray(run.binFrom, run.binTo)]).toEqual([...decodeLevel(levels[i]!.k, levels[i]!.bins, levels[i]!.bytes, 8, 4).events]);
    });
  });

  it('a level whose events do not add up to the lane\'s, or whose bytes are cut, is refused', () => {
    const enc = levels[0]!;
    for (const wholeBytes of [0, Infinity]) {
      const check = (bins: number, bytes: Uint8Array, n: number) => () => LevelBins.check(enc.k, bins, bytes, 8, 4, n, new DecodedLevels(0), wholeBytes);
      expect(check(enc.bins, enc.bytes, events.length + 1)).toThrow(FormatError);
      expect(check(enc.bins, enc.bytes.subarray(0, enc.bytes.length - 3), events.length)).toThrow(FormatError);
      expect(check(enc.bins - 1, enc.bytes, events.length)).toThrow(FormatError);
      expect(check(enc.bins, enc.bytes, events.length)).not.toThrow();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const VCPUS = [2, 1];
const scenario = { name: 'synthetic', seed: 7, vms: VCPUS.map((vcpus) => ({ vcpus })) };

function write(name: string, events: MmuEvent[]): string {
  const path = join(dir, name);
  const w = SessionWriter.create(path, { scenario, vcpus: VCPUS }, { chunkEvents: 256 });
  for (const e of events) w.append(e);
  w.close({ complete: true });
  return path;
}

/** The chunks of a file, walked by their framing: type | length | payload | crc | length. */
function chunksOf(bytes: Uint8Array): { offset: number; type: string; length: number }[] {
  const out: { offset: number; type: string; length: number }[] = [];
  const b = Buffer.from(bytes);
  for (let off = 16; off + 8 <= bytes.length; off += 16 + b.readUInt32LE(off + 4))
    out.push({ offset: off, type: b.toString('latin1', off, off + 4), length: b.readUInt32LE(off + 4) });
  return out;
}

function must(input: string | Uint8Array): SessionReader {
  const { session, diagnostics } = openSession(input);
  if (!session) throw new Error(JSON.stringify(diagnostics));
  return session;
}

type Json = Record<string, string | number>;

/** The widest power-of-two cell no wider than a pixel, as docs/session-format.md defines the buckets. */
function cellOf(t0: number, t1: number, nb: number): number {
  let cell = 1;
  while (cell * 2 <= Math.max(t1 - t0, 1) / nb) cell *= 2;
  return cell;
}

/** The most frequent name, ties to the first in name order. */
function topOf(m: Map<string, number>): string {
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
}

/** The timeline of one lane counted from the export, one exit at a time. */
function expectedLane(all: Json[], vm: number, vcpu: number, t0: number, t1: number, nb: number) {
  const exits = all
    .map((e, index) => ({ e, index }))
    .filter(({ e }) => e.type === 'vmexit' && e.vm === vm && e.vcpu === vcpu && Number(e.t) <= t1 && Number(e.t) + Number(e.duration) >= t0);
  if (exits.length <= nb) return { exits: exits.length, slices: exits.map(({ e, index }) => ({ t0: Number(e.t), t1: Number(e.t) + Number(e.duration), reason: e.reason, handling: e.handling, index, count: 1 })) };
  const cell = cellOf(t0, t1, nb);
  const first = Math.floor(t0 / cell);
  const buckets = new Map<number, { t0: number; t1: number; reasons: Map<string, number>; handlings: Map<string, number>; index: number; count: number }>();
  for (const { e, index } of exits) {
    const b = Math.max(0, Math.floor(Number(e.t) / cell) - first);
    let x = buckets.get(b);
    if (!x) buckets.set(b, (x = { t0: Number(e.t), t1: 0, reasons: new Map(), handlings: new Map(), index, count: 0 }));
    x.count++;
    x.t1 = Math.max(x.t1, Number(e.t) + Number(e.duration));
    x.reasons.set(String(e.reason), (x.reasons.get(String(e.reason)) ?? 0) + 1);
    x.handlings.set(String(e.handling), (x.handlings.get(String(e.handling)) ?? 0) + 1);
  }
  return {
    exits: exits.length,
    slices: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([, x]) => ({ t0: x.t0, t1: x.t1, reason: topOf(x.reasons), handling: topOf(x.handlings), index: x.index, count: x.count })),
  };
}

describe('timelines and densities from the summaries', () => {
  const events = syntheticEvents(60_000, { seed: 23, vcpus: VCPUS, exitShare: 0.3 });
  const path = write('summ.mmulab', events);
  const bytes = new Uint8Array(readFileSync(path));
  const summ = chunksOf(bytes).find((c) => c.type === 'SUMM')!;
  // an older file: the same bytes with the SUMM chunk's type one the reader does not know (checksum redone)
  const older = bytes.slice();
  older.set(Buffer.from('XSUM', 'latin1'), summ.offset);
  Buffer.from(older.buffer).writeUInt32LE(crc32(older.subarray(summ.offset, summ.offset + 8 + summ.length)), summ.offset + 8 + summ.length);
  // a file whose summaries are damaged: a byte flipped in the middle of every level
  const damaged = bytes.slice();
  const dirLength = Buffer.from(bytes).readUInt32LE(summ.offset + 8);
  const directory = JSON.parse(Buffer.from(bytes.subarray(summ.offset + 12, summ.offset + 12 + dirLength)).toString('utf8')) as SummaryDirectory;
  for (const lane of directory.lanes) for (const lv of lane.levels) damaged[summ.offset + 12 + dirLength + lv.offset + (lv.length >> 1)]! ^= 0x20;

  const s = must(path);
  const all = s.events(0, s.eventCount).events as Json[];
  const span = s.endNs - s.startNs;
  const windows: [number, number, number][] = [
    [s.startNs, s.endNs + 1, 1000],
    [s.startNs, s.endNs + 1, 50],
    [s.startNs - 5.5, s.endNs + 17.25, 333],
    [s.startNs + span * 0.2 + 0.5, s.startNs + span * 0.9, 700],
    [s.startNs + span * 0.4, s.startNs + span * 0.41, 200],
    [s.startNs + span * 0.3, s.startNs + span * 0.3 + 2000, 4000],
  ];

  it('the file has summaries for every lane, found without a walk (footer.summaryOffset)', () => {
    expect(summ).toBeDefined();
    const foot = chunksOf(bytes).find((c) => c.type === 'FOOT')!;
    const footer = JSON.parse(Buffer.from(bytes.subarray(foot.offset + 8, foot.offset + 8 + foot.length)).toString('utf8')) as { summaryOffset: number };
    expect(footer.summaryOffset).toBe(summ.offset);
    expect(s.diagnostics).toEqual([]);
  });

  it('timelines equal the counts made exit by exit from the export; `index` is the first exit or -1', () => {
    for (const [t0, t1, nb] of windows) {
      const tl = s.timeline(t0, t1, nb);
      for (const lane of tl.lanes) {
        const want = expectedLane(all, lane.vm, lane.vcpu, t0, t1, nb);
        expect(lane.exits).toBe(want.exits);
        expect(lane.slices.length).toBe(want.slices.length);
        lane.slices.forEach((sl, i) => {
          const w = want.slices[i]!;
          // a bucket counted from the summaries has no index; any other has its first exit's
          expect(sl).toEqual({ ...w, index: sl.index === -1 ? -1 : w.index });
          if (sl.count === 1) expect(sl.index).toBe(w.index);
        });
      }
    }
  });

  it('densities equal the counts made event by event from the export', () => {
    for (const [t0, t1, nb] of windows) {
      const d = s.density(t0, t1, nb);
      const cell = cellOf(t0, t1, nb);
      expect([d.bucketNs, d.origin]).toEqual([cell, Math.floor(t0 / cell) * cell]);
      for (const lane of d.lanes) {
        const want = new Map<string, number[]>();
        let n = 0;
        for (const e of all) {
          const t = Number(e.t);
          if (e.vm !== lane.vm || e.vcpu !== lane.vcpu || t < t0 || t > t1) continue;
          const row = want.get(String(e.type)) ?? new Array<number>(d.buckets).fill(0);
          row[Math.floor(t / cell) - Math.floor(t0 / cell)]! += 1;
          want.set(String(e.type), row);
          n++;
        }
        expect(lane.events).toBe(n);
        expect(new Map(lane.types.map((t, k) => [t, lane.counts[k]]))).toEqual(want);
      }
    }
  });

  it('the session summary (events by type, exits by reason, per vCPU) comes from the summaries, as the export counts it', () => {
    const fresh = must(path);
    const sum = fresh.summary();
    expect(fresh.columnCache.chunks).toBe(0);
    const byType: Record<string, number> = {};
    const byReason: Record<string, number> = {};
    for (const e of all) {
      byType[String(e.type)] = (byType[String(e.type)] ?? 0) + 1;
      if (e.type === 'vmexit') byReason[String(e.reason)] = (byReason[String(e.reason)] ?? 0) + 1;
    }
    expect({ ...sum.eventsByType }).toEqual(byType);
    expect({ ...sum.exitsByReason }).toEqual(byReason);
    for (const v of sum.vcpus) {
      const mine = all.filter((e) => e.vm === v.vm && e.vcpu === v.vcpu);
      expect([v.events, v.exits]).toEqual([mine.length, mine.filter((e) => e.type === 'vmexit').length]);
    }
    expect(must(older).summary()).toEqual(sum);
  });

  it('the breakdown of a range (exits by reason, handling and vCPU with their times) equals the export\'s, from the summaries', () => {
    for (const [a, b] of [
      [s.startNs, s.endNs],
      [s.startNs + span * 0.13 + 0.5, s.startNs + span * 0.77],
      [s.startNs + span * 0.5, s.startNs + span * 0.5 + 3000],
    ] as const) {
      const fresh = must(path);
      const view = countersView(fresh, a, b);
      const want = new Map<string, { count: number; totalNs: number; minNs: number; maxNs: number }>();
      const wantH = new Map<string, number>();
      for (const e of all) {
        const t = Number(e.t);
        if (e.type !== 'vmexit' || t < a || t > b) continue;
        const d = Number(e.duration);
        const x = want.get(String(e.reason));
        want.set(String(e.reason), x ? { count: x.count + 1, totalNs: x.totalNs + d, minNs: Math.min(x.minNs, d), maxNs: Math.max(x.maxNs, d) } : { count: 1, totalNs: d, minNs: d, maxNs: d });
        wantH.set(String(e.handling), (wantH.get(String(e.handling)) ?? 0) + 1);
      }
      expect(new Map(view.byReason.map((r) => [r.key, { count: r.count, totalNs: r.totalNs, minNs: r.minNs, maxNs: r.maxNs }]))).toEqual(want);
      expect(new Map(view.byHandling.map((r) => [r.key, r.count]))).toEqual(wantH);
      expect(countersView(must(older), a, b)).toEqual(view);
      // the reader's counters over the range: every table as the export counts it
      const c = fresh.counters(a, b);
      const inRange = all.filter((e) => Number(e.t) >= a && Number(e.t) <= b);
      const tallyOf = (list: Json[], key: (e: Json) => string, by: (e: Json) => number = () => 1) => {
        const m: Record<string, number> = {};
        for (const e of list) m[key(e)] = (m[key(e)] ?? 0) + by(e);
        return m;
      };
      const exits = inRange.filter((e) => e.type === 'vmexit');
      expect(c.events).toBe(inRange.length);
      expect({ ...c.eventsByType }).toEqual(tallyOf(inRange, (e) => String(e.type)));
      expect({ ...c.exitsByReason }).toEqual(tallyOf(exits, (e) => String(e.reason)));
      expect({ ...c.exitsByHandling }).toEqual(tallyOf(exits, (e) => String(e.handling)));
      expect({ ...c.exitNsByReason }).toEqual(tallyOf(exits, (e) => String(e.reason), (e) => Number(e.duration)));
      expect(c.walkRefs).toBe(inRange.filter((e) => e.type === 'page_walk').reduce((n, e) => n + Number(e.refs), 0));
      expect(c.vcpus.map((v) => [v.events, v.exits])).toEqual(
        c.vcpus.map((v) => {
          const mine = inRange.filter((e) => e.vm === v.vm && e.vcpu === v.vcpu);
          return [mine.length, mine.filter((e) => e.type === 'vmexit').length];
        }),
      );
      expect(must(older).counters(a, b)).toEqual(c);
      if (b - a > span / 2) expect(fresh.columnCache.chunks).toBeLessThanOrEqual(4 * fresh.lanes.length);
    }
  });

  it('a whole-run view decodes only the chunks at its ends', () => {
    // (buckets of at least 128 events per lane: finer ones are counted from the events)
    const fresh = must(path);
    fresh.timeline(fresh.startNs, fresh.endNs + 1, 50);
    fresh.density(fresh.startNs, fresh.endNs + 1, 60);
    const chunks = fresh.lanes.reduce((n, l) => n + l.chunks.length, 0);
    expect(chunks).toBeGreaterThan(100);
    expect(fresh.columnCache.chunks).toBeLessThanOrEqual(3 * fresh.lanes.length);
  });

  it('an older file without summaries gives the very same answers (building them once)', () => {
    const old = must(older);
    expect(old.diagnostics.map((d) => d.code)).toEqual(['unknown_chunk']);
    for (const [t0, t1, nb] of windows) {
      expect(old.timeline(t0, t1, nb)).toEqual(s.timeline(t0, t1, nb));
      expect(old.density(t0, t1, nb)).toEqual(s.density(t0, t1, nb));
    }
  });

  it('damaged summaries are not used: one info diagnostic, the very same answers', () => {
    const bad = must(damaged);
    expect(bad.diagnostics).toEqual([]);
    for (const [t0, t1, nb] of windows) {
      expect(bad.timeline(t0, t1, nb)).toEqual(s.timeline(t0, t1, nb));
      expect(bad.density(t0, t1, nb)).toEqual(s.density(t0, t1, nb));
    }
    expect(bad.diagnostics.map((d) => [d.severity, d.code])).toEqual([['info', 'summary_damaged']]);
  });
});
