/**
 * A trace recorded here and now with the realkvm harness guest (`GUEST_CPL3=1 KVM_STATS=1
 * harness demand 64`), in a tracefs instance of its own, imported as raw ftrace text and as
 * `trace-cmd report` text, against KVM's own counters for that very run (KVM_GET_STATS_FD:
 * pf_fixed, mmu_cache_miss) and grep counts of the text. Skips, saying why, without root,
 * /dev/kvm, tracefs, gcc, trace-cmd or the harness sources (MMU_TEST_REALKVM, default
 * tools/realkvm).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession } from '../reader.ts';
import { PageState } from '../state.ts';
import { importTrace } from './importer.ts';
import { REALKVM_DIR } from '../testing/realPaths.ts';
import { holdRealKvm } from '../testing/realKvm.ts';

const TRACEFS = '/sys/kernel/tracing';
const HARNESS = process.env.MMU_TEST_REALKVM ?? REALKVM_DIR;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/dev/kvm')) return 'no /dev/kvm';
  if (!existsSync(join(TRACEFS, 'instances'))) return `no tracefs at ${TRACEFS}`;
  if (!has('gcc') || !has('make') || !has('trace-cmd')) return 'gcc, make or trace-cmd missing';
  if (!existsSync(join(HARNESS, 'harness.c'))) return `no realkvm harness at ${HARNESS}`;
  return undefined;
}

const why = missing();
if (why) console.log(`recorded-trace tests skipped: ${why}`);
const dir = mkdtempSync(join(tmpdir(), 'mmulab-recorded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Recording {
  stats: Record<string, number>;
  ftrace: string;
  report: string;
}

function record(): Recording {
  const build = join(dir, 'rk');
  execFileSync('make', ['-s', '-C', HARNESS, `BUILD=${build}`], { stdio: 'pipe' });
  const name = `importtest-${process.pid}`;
  const inst = join(TRACEFS, 'instances', name);
  mkdirSync(inst);
  let out: string;
  try {
    writeFileSync(join(inst, 'buffer_size_kb'), '8192');
    writeFileSync(join(inst, 'events/kvm/enable'), '1');
    writeFileSync(join(inst, 'events/kvmmmu/enable'), '1');
    writeFileSync(join(inst, 'tracing_on'), '1');
    out = execFileSync(join(build, 'harness'), ['demand', '64'], { env: { ...process.env, GUEST_CPL3: '1', KVM_STATS: '1' }, encoding: 'utf8' });
    // the VM's teardown (its zaps) runs as the harness exits: give the host thread a moment
    execFileSync('sleep', ['0.2']);
    writeFileSync(join(inst, 'tracing_on'), '0');
    writeFileSync(join(dir, 'r.ftrace.txt'), readFileSync(join(inst, 'trace')));
    execFileSync('trace-cmd', ['extract', '-B', name, '-o', join(dir, 'r.trace.dat')], { stdio: 'pipe' });
    execFileSync('sh', ['-c', `trace-cmd report -i "${join(dir, 'r.trace.dat')}" > "${join(dir, 'r.report.txt')}"`]);
  } finally {
    if (existsSync(inst)) rmdirSync(inst);
  }
  const stats: Record<string, number> = {};
  for (const m of out.matchAll(/^\s*(\S+) = (\d+)$/gm)) stats[m[1]!] = Number(m[2]);
  return { stats, ftrace: join(dir, 'r.ftrace.txt'), report: join(dir, 'r.report.txt') };
}

const grep = (file: string, event: string, payload = /(?:)/) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => {
      const m = new RegExp(`\\s${event}:\\s+(.*)$`).exec(l);
      return m && payload.test(m[1]!);
    }).length;

describe.skipIf(!!why)('a trace recorded on this host now', () => {
  // one file at a time runs guests on this host's KVM (holdRealKvm: a whole-host recording
  // would count another file's guest)
  let release: (() => void) | undefined;
  beforeAll(async () => void (release = await holdRealKvm()), 600_000);
  afterAll(() => release?.());
  let rec: Recording | undefined;
  const get = () => (rec ??= record());

  for (const flavour of ['ftrace', 'report'] as const)
    it(`${flavour}: one VM, sptes and new pages as KVM counted them, torn-down tables empty`, async () => {
      const r = get();
      const file = r[flavour];
      const out = join(dir, `${flavour}.mmulab`);
      const res = await importTrace(file, out);
      expect(res.ok).toBe(true);
      const { session } = openSession(out);
      const events = [...session!.iterate()];
      expect(session!.header.vms).toBe(1);
      const sptes = events.filter((e) => e.type === 'spte_write' && e.new !== 0n).length;
      expect(sptes).toBe(grep(file, 'kvm_mmu_set_spte'));
      expect(sptes).toBe(r.stats['vcpu0.pf_fixed']);
      const allocs = events.filter((e) => e.type === 'shadow_page' && e.action === 'alloc').length;
      expect(allocs).toBe(r.stats['vm.mmu_cache_miss']);
      expect(events.filter((e) => e.type === 'page_walk').length).toBe(grep(file, 'kvm_mmu_pagetable_walk'));
      // where the trace shows the teardown's zaps, the VM's shadow tables end without entries
      // (the harness has exited: KVM's teardown zapped its pages, from a host thread)
      expect(grep(file, 'kvm_mmu_prepare_zap_page')).toBeGreaterThan(0);
      {
        const end = session!.stateAfter(events.length - 1).vms[0]!;
        expect(PageState.liveTables(end).reduce((n, [, t]) => n + t.entries.size, 0)).toBe(0);
      }
    });
});
