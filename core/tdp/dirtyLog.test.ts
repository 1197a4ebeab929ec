/**
 * Dirty logging and the lockless fast page fault (seed 001).
 *
 * - The log names exactly the frames written since the last fetch (worked out by hand from
 *   the script), and fetching clears it.
 * - A write fault on a spte that dirty logging write-protected is fixed by the fast path
 *   (`fast-pf`, no mmu_lock) when mmu.tdp.fastPageFault is on, by the locked path otherwise;
 *   the number of exits is the same, only their cost differs.
 * - The seed's benchmark: fast page fault off vs on, the same exits, the time saved inside them.
 * - Each race of the seed's review, switched back on with bugs.<name>, is caught by the
 *   auditor; with the switch off nothing is; with fast page fault off the lock-protected
 *   races cannot happen.
 */
import { describe, expect, it } from 'vitest';
import { findBuiltin } from '../builtins.ts';
import type { MmuEvent } from '../events.ts';
import type { ScenarioInput, ScriptStep } from '../scenario.ts';
import { ofType, run, tdpOf } from '../test/helpers.ts';

const map = (va: string, gpa: string) => ({ op: 'map', va, gpa, size: '4k', levels: {} }) as const;
const read = (va: string) => ({ op: 'access', va, access: 'read', cpl: 3 }) as const;
const write = (va: string) => ({ op: 'access', va, access: 'write', cpl: 3 }) as const;
const log = { op: 'dirtyLog' } as const;

function script(steps: readonly object[], tdp: { fastPageFault?: boolean; largePages?: boolean }): ScenarioInput {
  return { name: 't', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging: 'long4', workload: { kind: 'script', steps: steps as unknown as ScriptStep[] } }, mmu: { mode: 'tdp', tdp } }] };
}

const SETUP = [map('0x400000', '0x200000'), map('0x401000', '0x201000'), map('0x402000', '0x202000'), write('0x400000'), write('0x401000'), write('0x402000')];

describe('the dirty log', () => {
  it('names exactly the frames written since the last fetch, and a fetch clears it', () => {
    const steps = [...SETUP, log, write('0x400008'), write('0x401008'), write('0x401010'), read('0x402000'), log, log, write('0x400010'), log];
    for (const largePages of [false, true]) {
      const { events } = run(script(steps, { largePages }), { audit: true });
      const logs = ofType(events, 'dirty_log');
      expect(logs.map((l) => `${l.action} ${l.pages} ${l.detail ?? ''}`.trim()), `largePages ${largePages}`).toEqual([
        'enable 0',
        'fetch 2 0x200,0x201', // A and B (gfn 0x200, 0x201); C was only read
        'fetch 0', // nothing written since
        'fetch 1 0x200',
      ]);
      expect(ofType(events, 'audit_violation')).toEqual([]);
    }
  });

  for (const [fast, handling] of [[true, 'fast-pf'], [false, 'fill-spte']] as const) {
    it(`a write to a write-protected spte is fixed by ${handling} with fastPageFault ${fast}`, () => {
      const steps = [...SETUP, log, write('0x400008'), write('0x401008'), write('0x401010'), read('0x402000')];
      const { events } = run(script(steps, { fastPageFault: fast, largePages: false }), { audit: true });
      const enable = events.findIndex((e) => e.type === 'dirty_log');
      const after = ofType(events.slice(enable), 'vmexit');
      // A and B fault once each (the second write to B hits the TLB); the read of C does not fault
      expect(after.map((e) => `${e.reason} ${e.handling} ${(e.gpa as number) / 4096}`)).toEqual([`EPT_VIOLATION ${handling} 512`, `EPT_VIOLATION ${handling} 513`]);
    });
  }
});

/** Simulated time of the logged passes: from logging on to logging off. */
function loggedNs(events: MmuEvent[]): number {
  const logs = ofType(events, 'dirty_log');
  return (logs.find((l) => l.action === 'disable')?.t ?? NaN) - (logs.find((l) => l.action === 'enable')?.t ?? NaN);
}

describe("seed 001's benchmark: fast page fault off vs on", () => {
  // The share saved (59.8% against the seed's 63.2%) rests on two estimated handler costs
  // (docs/engine.md, "Cost model"), so it is not asserted. What the mechanism fixes: the same
  // exits, every slow write fault replaced by a fast one, and the whole time saved is time
  // saved inside those exits (the guest's own work is the same).
  it('saves logged time only inside the write-fault exits, with the same exits', () => {
    const slow = run(findBuiltin('dirty-log-slow')?.scenario as ScenarioInput);
    const fast = run(findBuiltin('dirty-log-fast')?.scenario as ScenarioInput);
    const inExits = (events: MmuEvent[]) => ofType(events, 'vmexit').reduce((sum, e) => sum + e.duration, 0);
    const saved = loggedNs(slow.events) - loggedNs(fast.events);
    expect(saved).toBeGreaterThan(0);
    expect(Math.abs(saved - (inExits(slow.events) - inExits(fast.events)))).toBeLessThan(0.02 * saved);
    expect(ofType(fast.events, 'vmexit').length).toBe(ofType(slow.events, 'vmexit').length);
    expect(ofType(fast.events, 'vmexit').filter((e) => e.handling === 'fill-spte')).toEqual([]);
    expect(tdpOf(fast.vm)?.stats.fastPf).toBe(tdpOf(slow.vm)?.stats.slowWriteFaults);
  });

  it('two vCPUs writing the same pages take spurious faults, and they are counted', () => {
    const { events, vm } = run(findBuiltin('dirty-log-shared')?.scenario as ScenarioInput, { audit: true });
    const spurious = ofType(events, 'vmexit').filter((e) => e.handling === 'spurious');
    expect(spurious.length).toBeGreaterThan(0);
    expect(tdpOf(vm)?.stats.spurious).toBe(spurious.length);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
});

describe('the races of the seed\'s review, switched back on', () => {
  const race = (bug: string | null, fastPageFault = true): ScenarioInput => ({
    name: 't', seed: 1, hardware: { profile: 'ept-2012' },
    vms: [{ vcpus: 2, memoryMiB: 64, guest: { paging: 'long4', workload: { kind: 'dirty-log', pages: 64, iterations: 4 } }, mmu: { mode: 'tdp', tdp: { fastPageFault } }, bugs: bug ? { [bug]: true } : {} }],
  });
  const rules = (input: ScenarioInput) => new Set(ofType(run(input, { audit: true }).events, 'audit_violation').map((v) => v.rule));

  it('with every switch off the auditor finds nothing, fast page fault on or off', () => {
    expect(rules(race(null, true))).toEqual(new Set());
    expect(rules(race(null, false))).toEqual(new Set());
  });
  it('fastPfAba: the walked table is freed and reused for another range whose entry holds the same value; the stale gfn is logged', () => {
    // seed 001, case 1: "We dirty-log for gfn1, that means gfn2 is lost in dirty-bitmap"
    expect(rules(race('fastPfAba'))).toContain('dirty-bitmap');
  });
  it('fastPfLostDirty: a plain store clears an spte the fast path just made writable; the dirty bit is lost', () => {
    expect(rules(race('fastPfLostDirty'))).toContain('lost-dirty');
  });
  it('fastPfMissedFlush: the flush is decided from a stale read; a writable TLB entry survives', () => {
    expect(rules(race('fastPfMissedFlush'))).toContain('stale-tlb');
  });
  it('fastPfFlushOverwrite: the last page of the fetch decides the flush alone; writable TLB entries survive', () => {
    expect(rules(race('fastPfFlushOverwrite'))).toContain('stale-tlb');
  });
  it('without the lockless path these races cannot happen', () => {
    expect(rules(race('fastPfAba', false))).toEqual(new Set());
    expect(rules(race('fastPfLostDirty', false))).toEqual(new Set());
    expect(rules(race('fastPfMissedFlush', false))).toEqual(new Set());
  });
  it('the race built-ins show their violation', () => {
    for (const [name, rule] of [['race-fast-pf-aba', 'dirty-bitmap'], ['race-fast-pf-lost-dirty', 'lost-dirty'], ['race-fast-pf-missed-flush', 'stale-tlb'], ['race-fast-pf-flush-overwrite', 'stale-tlb']] as const) {
      expect(rules(findBuiltin(name)?.scenario as ScenarioInput), name).toContain(rule);
    }
  });
});

describe('determinism with host work', () => {
  it('the same scenario and seed give the same JSONL export, byte for byte (races, migrations, host actions included)', async () => {
    const { eventToJson } = await import('../events.ts');
    for (const name of ['dirty-log-shared', 'race-fast-pf-aba']) {
      const jsonl = () => run(findBuiltin(name)?.scenario as ScenarioInput).events.map((e) => JSON.stringify(eventToJson(e))).join('\n');
      const a = jsonl();
      expect(a.length).toBeGreaterThan(1000);
      expect(jsonl(), name).toBe(a);
    }
  });
});

describe('every vCPU takes its logged write faults in every pass (passes in lock step with the fetch)', () => {
  // Seed 001's benchmark shape: the log is fetched and every page write-protected again between
  // two passes, so each vCPU's first write to each of its pages in each pass faults: pages × passes
  // EPT violations per vCPU, whatever handles them (fast-pf, or a host action's page being remapped or emulated).
  for (const vcpus of [2, 4]) {
    it(`${vcpus} vCPUs, 16 pages, 3 passes: 16 logged write faults per vCPU per pass`, () => {
      const pages = 16;
      const passes = 3;
      const input: ScenarioInput = { name: 't', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus, memoryMiB: 64, guest: { paging: 'long4', workload: { kind: 'dirty-log', pages, iterations: passes } }, mmu: { mode: 'tdp', tdp: { fastPageFault: true, largePages: false } } }] };
      const { events } = run(input, { audit: true });
      const on = events.findIndex((e) => e.type === 'dirty_log' && e.action === 'enable');
      for (let cpu = 0; cpu < vcpus; cpu++) {
        const perPass: number[] = [0];
        for (const e of events.slice(on)) {
          if (e.vcpu !== cpu) continue;
          if (e.type === 'guest_os' && e.action === 'dirty-log') perPass.push(0);
          else if (e.type === 'vmexit' && e.reason === 'EPT_VIOLATION' && e.va !== undefined && e.va >= 0x10000000 && e.va < 0x10000000 + vcpus * pages * 4096) perPass[perPass.length - 1]!++;
        }
        expect(perPass.slice(0, passes), `vCPU ${cpu}`).toEqual(Array(passes).fill(pages));
      }
      expect(ofType(events, 'audit_violation')).toEqual([]);
    });
  }
});
