/**
 * Real traces of a 6.18 host (shadow MMU, no kvm_exit; ../shared/fixtures/traces/real-6.18),
 * in all three text flavours, against counts taken from the text with plain regular
 * expressions (grep -c, nothing of the importer's) and KVM's own counters (.kvmstats.txt).
 * Skips with a reason where the shared fixtures are absent.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MmuEvent } from '../../core/events.ts';
import { openSession, type SessionReader } from '../reader.ts';
import { PageState } from '../state.ts';
import { importTrace } from './importer.ts';
import { REAL_618_DIR } from '../testing/realPaths.ts';
import { zapClears } from '../testing/zapClears.ts';

const DIR = REAL_618_DIR;
const have = existsSync(DIR);
if (!have) console.log(`real-6.18 tests skipped: ${DIR} is missing`);
const out = mkdtempSync(join(tmpdir(), 'mmulab-real618-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const FLAVOURS = ['ftrace', 'report', 'perf'] as const;
const WORKLOADS = ['demand-cpl3', 'gpf-cpl0', 'cr3-cpl0'] as const;

/** grep -c of an event (and a payload pattern) in the text. */
function grep(text: string, event: string, payload = /(?:)/): number {
  const re = new RegExp(`\\s(?:\\w+:)?${event}:\\s+(.*)$`);
  let n = 0;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m && payload.test(m[1]!)) n++;
  }
  return n;
}

function kvmStat(workload: string, name: string): number | undefined {
  const m = new RegExp(`${name.replace('.', '\\.')} = (\\d+)`).exec(readFileSync(join(DIR, `${workload}.kvmstats.txt`), 'utf8'));
  return m ? Number(m[1]) : undefined;
}

const cache = new Map<string, Promise<{ session: SessionReader; events: MmuEvent[]; text: string; message: string }>>();
function load(workload: string, flavour: string) {
  const key = `${workload}.${flavour}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const file = join(DIR, `${key}.txt`);
      const r = await importTrace(file, join(out, `${key}.mmulab`));
      expect(r.ok).toBe(true);
      const { session } = openSession(join(out, `${key}.mmulab`));
      return { session: session!, events: [...session!.iterate()], text: readFileSync(file, 'utf8'), message: r.message };
    })();
    cache.set(key, p);
  }
  return p;
}

describe.skipIf(!have)('real 6.18 traces in every flavour', () => {
  for (const w of WORKLOADS)
    for (const fl of FLAVOURS)
      it(`${w}.${fl}: typed events as many as the text's records, one VM, no kvm_exit said`, async () => {
        const { session, events, text, message } = await load(w, fl);
        const n = (type: string) => events.filter((e) => e.type === type).length;
        // one VM: the host threads (kvm-nx-lpage-re) are a lane of it, not VMs
        expect(session.header.vms).toBe(1);
        expect(n('vmexit')).toBe(0);
        expect(grep(text, 'kvm_exit')).toBe(0);
        expect(message).toMatch(/no kvm_exit/);
        // every injected #PF (the kernel's `#PF` text or libtraceevent's `exception=14`) is a guest fault
        expect(n('guest_fault')).toBe(grep(text, 'kvm_inj_exception', /^#PF|exception=14\b/));
        expect(n('page_walk')).toBe(grep(text, 'kvm_mmu_pagetable_walk'));
        expect(n('walk_error')).toBe(grep(text, 'kvm_mmu_walker_error'));
        expect(n('spte_write') - zapClears(events)).toBe(grep(text, 'kvm_mmu_set_spte'));
        const pages = grep(text, 'kvm_mmu_get_page', /\bnew\b|created=1/) + grep(text, 'kvm_mmu_prepare_zap_page') + grep(text, 'kvm_mmu_sync_page') + grep(text, 'kvm_mmu_unsync_page');
        expect(n('shadow_page')).toBe(pages);
        // no record dropped: walks' parts and spte requests are folded, the rest typed or raw
        expect(events.filter((e) => e.type === 'raw' && /paging_element|spte_requested/.test(e.name))).toEqual([]);
      });

  it('guest faults and created pages match KVM counters (pf_guest, mmu_cache_miss)', async () => {
    for (const fl of FLAVOURS) {
      const gpf = await load('gpf-cpl0', fl);
      expect(gpf.events.filter((e) => e.type === 'guest_fault').length).toBe(kvmStat('gpf-cpl0', 'vcpu0.pf_guest'));
      for (const w of ['demand-cpl3', 'cr3-cpl0']) {
        const { events } = await load(w, fl);
        expect(events.filter((e) => e.type === 'shadow_page' && e.action === 'alloc').length, `${w}.${fl}`).toBe(kvmStat(w, 'vm.mmu_cache_miss'));
      }
      // one spte per fixed fault (pf_fixed) in the CPL3 demand workload
      const demand = await load('demand-cpl3', fl);
      expect(demand.events.filter((e) => e.type === 'spte_write' && e.new !== 0n).length).toBe(kvmStat('demand-cpl3', 'vcpu0.pf_fixed'));
    }
  });

  it('the guest fault address is the address the failed walk walked', async () => {
    const { events, text } = await load('gpf-cpl0', 'report');
    // the address of each walk that ended in kvm_mmu_walker_error, in order
    const walked: number[] = [];
    let last = 0;
    for (const line of text.split('\n')) {
      const w = /kvm_mmu_pagetable_walk:\s+addr ([0-9a-f]+)/.exec(line);
      if (w) last = parseInt(w[1]!, 16);
      if (/kvm_mmu_walker_error:/.test(line)) walked.push(last);
    }
    expect(events.flatMap((e) => (e.type === 'guest_fault' ? [e.va] : []))).toEqual(walked);
  });

  it('the root page has the same role words in every flavour, decoded with the 6.18 layout', async () => {
    const roles: string[] = [];
    for (const fl of FLAVOURS) {
      const { events } = await load('demand-cpl3', fl);
      const root = events.find((e) => e.type === 'shadow_page' && e.action === 'alloc' && e.level === 4);
      roles.push(root?.type === 'shadow_page' ? (root.role ?? '') : '');
    }
    // the kernel's own text says `8-byte q0 wux nxe ad`; the plugin prints `!pae` (bit 4 clear = 8-byte on 5.17+)
    expect(roles[0]).toBe('8-byte wux nxe ad');
    expect(roles[1]).toBe('8-byte wux nxe wp');
    expect(roles[2]).toBe('8-byte wux nxe wp ad');
  });

  it('no invented gfn: the plugin lines without one have none', async () => {
    const { events, text } = await load('demand-cpl3', 'report');
    const withoutGfn = grep(text, 'kvm_mmu_prepare_zap_page', /^(?!.*gfn)/) + grep(text, 'kvm_mmu_sync_page', /^(?!.*gfn)/) + grep(text, 'kvm_mmu_unsync_page', /^(?!.*gfn)/);
    expect(withoutGfn).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'shadow_page' && e.gfn === undefined).length).toBe(withoutGfn);
  });

  it("the VM's teardown zaps land on it: its shadow tables end empty where the trace shows the teardown", async () => {
    for (const fl of ['ftrace', 'report']) {
      const { session, events, text } = await load('demand-cpl3', fl);
      expect(grep(text, 'kvm_mmu_prepare_zap_page')).toBeGreaterThan(0);
      const end = session.stateAfter(events.length - 1);
      const entries = PageState.liveTables(end.vms[0]!).reduce((a, [, t]) => a + t.entries.size, 0);
      expect(entries, fl).toBe(0);
      // before the teardown the tables held every spte set (65 = pf_fixed)
      const firstZap = events.findIndex((e) => e.type === 'shadow_page' && e.action === 'zap');
      const before = session.stateAfter(firstZap - 1);
      expect(PageState.liveTables(before.vms[0]!).reduce((a, [, t]) => a + t.entries.size, 0)).toBe(kvmStat('demand-cpl3', 'vm.pages_4k'));
    }
  });

  it("the guest's page tables are rebuilt from the walks: the entries the text shows at the gpas its A bits name", async () => {
    const { session, events } = await load('demand-cpl3', 'ftrace');
    const end = session.stateAfter(events.length - 1).vms[0]!;
    // `pte 2007 level 4` then `set_accessed_bit gpa 1000`: the top entry at 0x1000, now with A (0x20)
    expect(end.guest.get(0x1000)).toBe(0x2027n);
    // `pte 3007 level 3`, A set at gpa 2000; `pte 5007 level 2` (second walk) at gpa 3008 with A
    expect(end.guest.get(0x2000)).toBe(0x3027n);
    expect(end.guest.get(0x3008)).toBe(0x5027n);
    // the first write walk's leaf `pte 200007`, A and D set at gpa 5000
    expect(end.guest.get(0x5000)).toBe(0x200067n);
  });
});
