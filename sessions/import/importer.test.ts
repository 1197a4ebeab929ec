/**
 * Every real trace fixture, imported into a real session file and read back with the session
 * reader, against counts taken from the text by the independent oracle in
 * sessions/testing/traceTextCounts.ts (never numbers copied from the importer's output).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { MmuEvent } from '../../core/events.ts';
import { openSession, type SessionReader } from '../reader.ts';
import { countText, secondsToNs, type TextCounts } from '../testing/traceTextCounts.ts';
import { importTrace, type ImportResult } from './importer.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mmulab-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Reason names as traces print them → the lab's names (README §6: VMX names upper case, SVM lower case without EXIT_). */
const LAB_REASON: Record<string, string> = {
  apic_access: 'APIC_ACCESS',
  io_instruction: 'IO_INSTRUCTION',
  EXIT_RSM: 'rsm',
  EXIT_NPF: 'npf',
  EXIT_EXCP_GP: 'excp_gp',
};

/** Records the importer turns into typed events one for one (docs/import.md); every other record is kept as a raw event or folded into one. */
function typedCounts(c: TextCounts) {
  const n = (e: string, p?: RegExp) => c.records.filter((r) => r.event === e && (!p || p.test(r.payload))).length;
  return {
    vmexit: n('kvm_exit'),
    entries: n('kvm_entry'),
    spte_write: n('kvm_tdp_mmu_spte_changed') + n('kvm_mmu_set_spte'),
    // kvm_mmu_get_page of an existing page changes nothing, so it stays raw
    shadow_page: n('kvm_mmu_get_page', /\bnew\b/) + n('kvm_mmu_prepare_zap_page') + n('kvm_mmu_sync_page') + n('kvm_mmu_unsync_page'),
    // an injected #PF whose address a walk or a fault before it on the thread told
    guest_fault: c.records.filter((r, i) => r.event === 'kvm_inj_exception' && /^#PF/.test(r.payload) && c.records.slice(0, i).some((q) => q.pid === r.pid && /^kvm_(?:mmu_pagetable_walk|page_fault)$/.test(q.event))).length,
    page_walk: n('kvm_mmu_pagetable_walk'),
    walk_error: n('kvm_mmu_walker_error'),
    fast_page_fault: n('fast_page_fault'),
  };
}

/** Events of a walk, folded into its page_walk and gpte_writes; a spte request, folded into the spte_write after it. */
const FOLDED = new Set(['kvm_mmu_paging_element', 'kvm_mmu_set_accessed_bit', 'kvm_mmu_set_dirty_bit', 'kvm_mmu_spte_requested']);

interface Imported {
  result: ImportResult;
  session: SessionReader;
  events: MmuEvent[];
  source: { skippedLines: { line: number; text: string }[]; skipped: number; vms: unknown[] };
}

async function load(name: string): Promise<Imported> {
  const out = join(dir, name + '.mmulab');
  const result = await importTrace(join(FIXTURES, name), out);
  const { session, diagnostics } = openSession(out);
  expect(diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
  expect(session).toBeDefined();
  const events = [...session!.iterate()];
  const source = (session!.header.scenario as { source: Imported['source'] }).source;
  return { result, session: session!, events, source };
}

const text = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

/** Everything the oracle can say about a fixture, checked against the session. */
function checkAgainstText(imp: Imported, c: TextCounts, opts: { unparsed: boolean }): void {
  const { session, events } = imp;
  const s = session.summary();
  const typed = typedCounts(c);
  expect(imp.result.records, 'records').toBe(c.records.length);
  expect(s.eventsByType.vmexit ?? 0, 'exits').toBe(typed.vmexit);
  // a zap also clears the entries known in the page: spte_writes of its table to 0 right after it
  let clears = 0;
  let zap: MmuEvent | undefined;
  for (const e of events) {
    if (e.type === 'shadow_page' && e.action === 'zap') zap = e;
    else if (zap && zap.type === 'shadow_page' && e.type === 'spte_write' && e.table === zap.table && e.new === 0n && e.vm === zap.vm && e.vcpu === zap.vcpu) clears++;
    else zap = undefined;
  }
  expect((s.eventsByType.spte_write ?? 0) - clears, 'spte writes').toBe(typed.spte_write);
  expect(s.eventsByType.shadow_page ?? 0, 'shadow pages').toBe(typed.shadow_page);
  expect(s.eventsByType.guest_fault ?? 0, 'guest faults').toBe(typed.guest_fault);
  expect(s.eventsByType.page_walk ?? 0, 'page walks').toBe(typed.page_walk);
  expect(s.eventsByType.walk_error ?? 0, 'walk errors').toBe(typed.walk_error);
  expect(s.eventsByType.fast_page_fault ?? 0, 'fast page faults').toBe(typed.fast_page_fault);

  // raw events by name: every record the importer does not model, none dropped
  const rawByName: Record<string, number> = {};
  for (const e of events) if (e.type === 'raw') rawByName[e.name] = (rawByName[e.name] ?? 0) + 1;
  const modelled = new Set(['kvm_exit', 'kvm_entry', 'kvm_tdp_mmu_spte_changed', 'kvm_mmu_set_spte', 'kvm_mmu_prepare_zap_page', 'kvm_mmu_sync_page', 'kvm_mmu_unsync_page', 'kvm_mmu_pagetable_walk', 'kvm_mmu_walker_error', 'fast_page_fault']);
  const expectRaw: Record<string, number> = {};
  const folded: Record<string, number> = {};
  for (const r of c.records) {
    if (modelled.has(r.event)) continue;
    if (r.event === 'kvm_mmu_get_page' && /\bnew\b/.test(r.payload)) continue;
    if (FOLDED.has(r.event)) folded[r.event] = (folded[r.event] ?? 0) + 1;
    else expectRaw[r.event] = (expectRaw[r.event] ?? 0) + 1;
  }
  expectRaw.kvm_inj_exception = (expectRaw.kvm_inj_exception ?? 0) - typed.guest_fault;
  if (!expectRaw.kvm_inj_exception) delete expectRaw.kvm_inj_exception;
  // folded records are raw only where nothing took them in: never more than the text has
  for (const [name, n] of Object.entries(folded)) {
    expect(rawByName[name] ?? 0, name).toBeLessThanOrEqual(n);
    delete rawByName[name];
  }
  expect(rawByName).toEqual(expectRaw);

  // exits per vCPU id (summed over VMs) and the reason histogram
  const perVcpu: Record<string, number> = {};
  for (const v of s.vcpus) if (v.exits) perVcpu[String(v.vcpu)] = (perVcpu[String(v.vcpu)] ?? 0) + v.exits;
  expect(perVcpu).toEqual(c.exitsPerVcpu);
  const reasons: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.reasons)) reasons[LAB_REASON[k] ?? k] = (reasons[LAB_REASON[k] ?? k] ?? 0) + v;
  expect(s.exitsByReason).toEqual(reasons);

  // exit times (ns after the first timestamp) and durations (to the next kvm_entry of the thread)
  const exits = events.filter((e): e is Extract<MmuEvent, { type: 'vmexit' }> => e.type === 'vmexit');
  if (c.exitTimes.length === exits.length && c.exitTimes.length > 0)
    expect(exits.map((e) => `${e.vcpu}@${e.t}`).sort()).toEqual(c.exitTimes);
  if (c.exitDurations) expect(exits.map((e) => e.duration).sort((a, b) => a - b)).toEqual(c.exitDurations);

  // unparsed lines: counted, and listed with their line numbers
  if (opts.unparsed) {
    expect(imp.source.skipped).toBe(c.unparsed.length);
    expect(imp.source.skippedLines.map((l) => l.line)).toEqual(c.unparsed.slice(0, 100));
  }
}

const ALL = readdirSync(FIXTURES).filter((f) => f.endsWith('.txt'));
const SUMMARY_TABLES = ['kvm-stat-samples.txt', 'perf-kvm-stat-report-samples.txt'];
/** Mail-wrapped originals: their continuation lines are neither records nor unparsed. */
const WRAPPED = new Set(['ftrace-kvm-fastpf-spurious-nested-2024.txt', 'ftrace-kvmmmu-tdp-hugepage-private-mem-2022.txt', 'tracecmd-kvm-nsvm-smm-rsm-2021.txt', 'perf-kvm-exit-perf-top-and-script-samples.txt']);
const RECORD_FIXTURES = ALL.filter((f) => !SUMMARY_TABLES.includes(f) && !(f.endsWith('.txt') && ALL.includes(f.replace(/\.txt$/, '.clean.txt'))));

describe('every trace fixture against counts taken from its text', () => {
  it('knows every fixture', () => {
    expect(ALL.length).toBe(19);
    expect(RECORD_FIXTURES.length).toBe(14);
  });

  for (const name of RECORD_FIXTURES) {
    it(name, async () => {
      const imp = await load(name);
      expect(imp.result.ok).toBe(true);
      expect(imp.result.complete).toBe(true);
      expect(imp.session.complete).toBe(true);
      const c = countText(text(name));
      expect(c.records.length).toBeGreaterThan(0);
      checkAgainstText(imp, c, { unparsed: !WRAPPED.has(name) });
    });
  }

  for (const clean of ALL.filter((f) => f.endsWith('.clean.txt'))) {
    const original = clean.replace(/\.clean\.txt$/, '.txt');
    it(`${original}: the wrapped mail text gives the same records as its .clean.txt`, async () => {
      const a = await load(original);
      const b = await load(clean);
      expect(a.result.records).toBe(b.result.records);
      expect(a.events.map((e) => a.session.toJson(e))).toEqual(b.events.map((e) => b.session.toJson(e)));
      // the dirty-ring mail is quoted (`>   `) but not wrapped
      if (!original.startsWith('tracecmd-kvm-dirty-ring')) expect(a.result.rejoined).toBeGreaterThan(0);
    });
  }

  for (const name of SUMMARY_TABLES) {
    it(`${name}: a summary table, not a trace: a clear message and no session`, async () => {
      expect(countText(text(name)).records).toEqual([]);
      const r = await importTrace(join(FIXTURES, name), join(dir, name + '.mmulab'));
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(name.startsWith('kvm-stat') ? /kvm_stat. output, not a trace/ : /perf kvm stat. summary table, not a trace/);
      expect(openSession(join(dir, name + '.mmulab')).session).toBeUndefined();
    });
  }
});

describe('the shapes real traces take', () => {
  it('flavours are detected from the content', async () => {
    const flavour = async (n: string) => (await importTrace(join(FIXTURES, n), join(dir, `fl-${n}.mmulab`))).flavour;
    expect(await flavour('ftrace-kvm-msr-with-header.txt')).toBe('ftrace');
    expect(await flavour('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt')).toBe('ftrace');
    expect(await flavour('tracecmd-kvm-dirty-ring-2019.txt')).toBe('trace-cmd');
    expect(await flavour('tracecmd-kvmmmu-get-page-spte-amd-la57.txt')).toBe('trace-cmd');
    expect(await flavour('tracecmd-kvm-nsvm-smm-rsm-2021.txt')).toBe('trace-cmd');
    expect(await flavour('perf-kvm-exit-perf-top-and-script-samples.txt')).toBe('perf');
  });

  it('header block: the ftrace header is ignored, and the comm with a space gives the vCPU (CPU 5/KVM)', async () => {
    const name = 'ftrace-kvm-msr-with-header.txt';
    const imp = await load(name);
    const c = countText(text(name));
    expect(imp.source.skipped).toBe(0);
    expect(imp.events.length).toBe(c.byEvent.kvm_msr);
    expect(new Set(imp.events.map((e) => e.vcpu))).toEqual(new Set([5]));
    // times: each record's timestamp after the first one, in ns
    const t0 = secondsToNs(c.records[0]!.ts!);
    expect(imp.events.map((e) => e.t)).toEqual(c.records.map((r) => Number(secondsToNs(r.ts!) - t0)));
    expect(imp.events.map((e) => (e.type === 'raw' ? e.text : ''))).toEqual(c.records.map((r) => r.payload));
  });

  it("CAN'T FIND FIELD artefacts are stripped and the native text kept; nested exits are not counted as exits", async () => {
    const imp = await load('tracecmd-plugin-mismatch-cant-find-field-2020.txt');
    const raws = imp.events.filter((e) => e.type === 'raw');
    expect(raws.length).toBe(4);
    expect(imp.session.summary().eventsByType.vmexit ?? 0).toBe(0);
    for (const e of raws) {
      expect(e.name).toBe('kvm_nested_vmexit');
      expect(e.text).not.toMatch(/FIND FIELD/);
    }
    expect(raws.filter((e) => e.text.startsWith('vcpu 0 reason npf rip 0x400433 info1 0x0000000200000006')).length).toBe(1);
  });

  it('AMD/SVM: plugin names (EXIT_NPF) become SVM names, never VMX ones; the NPF GPA is info2', async () => {
    const imp = await load('tracecmd-kvm-nsvm-smm-rsm-2021.txt');
    expect(imp.result.isa).toBe('svm');
    const exits = imp.events.filter((e) => e.type === 'vmexit');
    expect(exits.map((e) => e.reason)).toEqual(['rsm', 'npf', 'excp_gp']);
    expect(exits[1]!.gpa).toBe(0x1ab000);
    // the 4-space continuation lines are joined to their record with one space
    const intercepts = imp.events.find((e) => e.type === 'raw' && e.name === 'kvm_nested_intercepts');
    expect(intercepts?.type === 'raw' && intercepts.text).toBe('cr_read: 0000 cr_write: 0010 excp: 40060002 intercepts: fd44bfeb 0000217f 00000000');
    const vmrun = imp.events.find((e) => e.type === 'raw' && e.name === 'kvm_nested_vmrun');
    expect(vmrun?.type === 'raw' && vmrun.text).toMatch(/ nrip: 0xffffffffffbbe119 .* npt: on$/);
  });

  it('trace-cmd with grep separators, shell prompts, cpus= headers and comms with spaces: two runs, two VMs', async () => {
    const imp = await load('tracecmd-kvmmmu-get-page-spte-amd-la57.txt');
    expect(imp.source.skipped).toBe(0);
    expect(imp.session.header.vms).toBe(2);
    const pages = imp.events.filter((e) => e.type === 'shadow_page');
    expect(pages.map((e) => (e.type === 'shadow_page' ? `${e.action} l${e.level} gfn ${e.gfn?.toString(16)}` : ''))).toEqual([
      'alloc l4 gfn 0',
      'alloc l3 gfn 0',
      'alloc l2 gfn c0000',
      'alloc l1 gfn ffe00',
    ]);
    const sptes = imp.events.filter((e) => e.type === 'spte_write');
    expect(sptes.every((e) => e.type === 'spte_write' && e.new === 0x8be2171025n) || sptes.some((e) => e.type === 'spte_write' && e.new === 0x8aa17d0025n)).toBe(true);
  });

  it('perf script: comms with spaces (fc_vcpu 1), perf-prof wall-clock prefixes, a line wrapped after its timestamp', async () => {
    const imp = await load('perf-kvm-exit-perf-top-and-script-samples.txt');
    // its runs are months apart: times past 2^53 ns stay at that limit, and the message says so
    expect(imp.result.lateTimes).toBeGreaterThan(0);
    expect(imp.result.message).toMatch(/timestamps more than 104 days after the first/);
    const us = imp.events.find((e) => e.type === 'raw' && e.name === 'kvm_userspace_exit');
    expect(us?.type === 'raw' && us.text).toBe('reason KVM_EXIT_UNKNOWN (0)');
    // the perf top tables are listed as not understood, with their line numbers
    const c = countText(text('perf-kvm-exit-perf-top-and-script-samples.txt'));
    const tableLines = c.unparsed.filter((n) => /%\s+reason|^Samples:|^Overhead/.test(text('perf-kvm-exit-perf-top-and-script-samples.txt').split('\n')[n - 1]!));
    expect(imp.source.skippedLines.map((l) => l.line)).toEqual(tableLines);
  });

  it('stack traces are one record with their frames', async () => {
    const imp = await load('ftrace-kvmmmu-get-page-stacktrace-tdp.txt');
    const st = imp.events.find((e) => e.type === 'raw' && e.name === 'stack_trace');
    const frames = text('ftrace-kvmmmu-get-page-stacktrace-tdp.txt')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('=> '));
    expect(st?.type === 'raw' && st.text).toBe(frames.join(' '));
  });

  it('a #PF injection becomes a guest fault with the error code and the faulting address', async () => {
    const imp = await load('ftrace-kvm-page-fault-pf-intercept-2023.txt');
    const pf = imp.events.find((e) => e.type === 'guest_fault');
    const t = text('ftrace-kvm-page-fault-pf-intercept-2023.txt');
    const addr = /kvm_page_fault: .*address 0x([0-9a-f]+)/.exec(t)![1]!;
    const code = /kvm_inj_exception: #PF \(0x([0-9a-f]+)\)/.exec(t)![1]!;
    expect(pf?.type === 'guest_fault' && [pf.va, pf.errorCode]).toEqual([parseInt(addr, 16), parseInt(code, 16)]);
  });
});
