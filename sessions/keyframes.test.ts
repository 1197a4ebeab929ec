import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { findBuiltin } from '../core/builtins.ts';
import { createVm } from '../core/engine.ts';
import { parseScenario } from '../core/scenario.ts';
import type { Vm } from '../core/vm.ts';
import type { MmuEvent } from '../core/events.ts';
import { recordScenario } from './record.ts';
import { builtinScenario } from './testing/recordBuiltin.ts';
import { openSession, type SessionReader } from './reader.ts';
import { PageState } from './state.ts';
import { appendKeyframes, appendKeyframesAsync, keyframeChunk } from './annex.ts';
import { SessionWriter } from './writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-kf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function open(path: string): SessionReader {
  const { session, diagnostics } = openSession(path);
  if (!session) throw new Error(JSON.stringify(diagnostics));
  return session;
}

/** State after events [0, n) by the simplest possible replay: from the start, no keyframes. */
function naive(events: MmuEvent[], vms: number, n: number): Uint8Array {
  const s = new PageState(vms);
  for (let i = 0; i < n; i++) s.apply(events[i]!, i);
  return s.encode();
}

const SCENARIOS = ['cow-update', 'kbuild-zap', 'multi-vcpu', 'nonpae-quadrants', 'cache-recycle', 'tdp-demand', 'tdp-mmu-parallel', 'xenpv-fork-cow', 'nested-tdp'];

describe('keyframes', () => {
  for (const name of SCENARIOS) {
    it(`${name}: state from the nearest keyframe equals a replay from the start, at random positions`, () => {
      const path = join(dir, `${name}.mmulab`);
      recordScenario(builtinScenario(name), path, { chunkEvents: 300, keyframeEvents: 700, maxEvents: 30_000 });
      const s = open(path);
      expect(s.keyframes.length).toBe(Math.floor((s.eventCount - 1) / 700));
      const events = [...s.iterate()];
      expect(events.length).toBe(s.eventCount);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: s.eventCount }), (n) => {
          expect(Buffer.from(s.stateBefore(n).encode()).equals(Buffer.from(naive(events, s.header.vms, n)))).toBe(true);
        }),
        { numRuns: 40, seed: 5 },
      );
      expect(s.verifyKeyframes()).toEqual({ checked: s.keyframes.length, problems: [] });
    });
  }

  it('the replayed final state is the engine\'s own page tables (guest memory, and the MMU\'s tables() under shadow, TDP, Xen PV, nested TDP and nested shadow paging)', () => {
    for (const name of ['kbuild-update', 'nonpae-quadrants', 'cow-zap', 'tdp-demand', 'xenpv-fork-cow', 'nested-tdp', 'nested-shadow', 'nested-shadow-on-shadow']) {
      const scenario = builtinScenario(name);
      const vm = createVm(scenario, 0, {}) as Vm;
      const state = new PageState(1);
      let i = 0;
      while (vm.step((e) => state.apply(e, i++)));
      const v = state.vms[0]!;
      expect(v.guest.size).toBeGreaterThan(0);
      const bytes = scenario.vms[0]!.guest.paging === 'nonpae' ? 4 : 8;
      for (const [gpa, value] of v.guest) {
        const [lo, hi] = vm.os.readEntry(gpa);
        expect(value, `${name} gpa ${gpa.toString(16)}`).toBe((BigInt(bytes === 8 ? hi >>> 0 : 0) << 32n) | BigInt(lo >>> 0));
      }
      // every table the MMU reports for the page-table view (Mmu.tables) has exactly the replayed entries
      const tables = vm.mmu.tables();
      expect(tables.length).toBeGreaterThan(0);
      for (const table of tables) {
        // nested: L1's tables (EPT12) are named among L1's, L0's (EPT01, EPT02) among L0's
        const t = PageState.tablesOf(v, table.role).get(table.id);
        const want = new Map(table.entries);
        for (let k = 0; k < 512; k++) expect(t?.entries.get(k) ?? 0n, `${name} table ${table.id} index ${k}`).toBe(want.get(k) ?? 0n);
      }
    }
  });

  it('a session without keyframes (killed recording) rebuilds them in memory with the same answers', () => {
    const input = structuredClone(findBuiltin('kbuild-zap')!.scenario);
    const workload = input.vms[0]!.guest.workload;
    if (workload.kind === 'kbuild') workload.iterations = 200;
    const parsed = parseScenario(input);
    if (!parsed.ok) throw new Error(parsed.error);
    const scenario = parsed.value;
    const path = join(dir, 'nokf.mmulab');
    const w = SessionWriter.create(path, { scenario }, { chunkEvents: 256 });
    const vm = createVm(scenario, 0, { maxEvents: 150_000 });
    const events: MmuEvent[] = [];
    while (vm.step((e) => (events.push(e), w.append(e))));
    w.flush(); // no close: no footer, no keyframes, as after kill -9
    const s = open(path);
    expect(s.closed).toBe(false);
    expect(s.keyframes).toEqual([]);
    const canonical = [...s.iterate()];
    expect(s.eventCount).toBeGreaterThan(65_537);
    for (const n of [0, 1, 65_535, 65_536, 65_537, Math.floor(s.eventCount / 2) + 7, s.eventCount])
      expect(Buffer.from(s.stateBefore(n).encode()).equals(Buffer.from(naive(canonical, 1, n)))).toBe(true);
  });

  it('the host\'s yielding keyframe pass writes the same bytes as the one-go pass', async () => {
    const a = join(dir, 'sync.mmulab');
    const b = join(dir, 'async.mmulab');
    const scenario = builtinScenario('kbuild-update');
    const w = SessionWriter.create(a, { scenario }, { chunkEvents: 500 });
    const vm = createVm(scenario, 0, { maxEvents: 20_000 });
    while (vm.step((e) => w.append(e)));
    w.close({ complete: true });
    copyFileSync(a, b);
    expect(appendKeyframes(a, open(a), 1000)).toBeGreaterThan(10);
    expect(await appendKeyframesAsync(b, open(b), 1000, 777)).toBeGreaterThan(10);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });

  it('verify finds a keyframe that does not match the events', () => {
    const path = join(dir, 'tamper.mmulab');
    recordScenario(builtinScenario('demand-zap'), path, { keyframeEvents: 100 });
    const s = open(path);
    expect(s.keyframes.length).toBeGreaterThan(2);
    expect(appendKeyframes(path, s, 100)).toBe(0); // it already has keyframes for this event count
    // a keyframe for position 150 whose one guest entry is wrong
    const state = s.stateBefore(150);
    const [gpa, value] = [...state.vms[0]!.guest][0]!;
    state.vms[0]!.guest.set(gpa, value ^ 2n);
    appendFileSync(path, keyframeChunk(state, 0, s.eventCount));
    const again = open(path);
    const result = again.verifyKeyframes();
    expect(result.checked).toBe(s.keyframes.length + 1);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/after 150 events\) differs from a replay/);
  });
});
