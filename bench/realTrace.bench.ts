/**
 * Import of a real kvm + kvmmmu trace recorded on this host (issue 16 §5), beside the tool that
 * makes its text: `trace-cmd report` turning the trace.dat into text, and `mmu-lab import`
 * reading that text, both fresh processes timed by their wall clock in the same run, on the
 * same lines. The trace is recorded here, once per run, with the realkvm harness guest
 * (`harness gpf 512 3`: one VM, about 450 k events: page walks of the instruction emulator,
 * guest page faults, the teardown's zaps) in a tracefs instance of its own, then
 * `trace-cmd extract` (`trace-cmd record` fails on this host's KVM module): the recording the
 * tracedat group and the tests share (sessions/testing/recordTraceDat.ts). Without root,
 * /dev/kvm, tracefs, trace-cmd, gcc or the harness sources the group says which is missing and
 * does not run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Benchmark } from './harness.ts';
import { interleavedRatio } from './harness.ts';
import { missing as recordingMissing, recordTraceDat } from '../sessions/testing/recordTraceDat.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'mmu-lab.js');
const WORKLOAD = ['gpf', '512', '3'];
const PAIRS = 3;

/** Why the group cannot run here, or undefined. */
function missing(): string | undefined {
  if (!existsSync('/usr/bin/time')) return 'no /usr/bin/time (the CPU figures need it)';
  return recordingMissing();
}

interface Recorded {
  dir: string;
  dat: string;
  text: string;
  lines: number;
}

let recorded: Recorded | undefined;

/** Records the trace once (recordTraceDat: a tracefs instance of its own, removed afterwards whatever happens). */
async function record(): Promise<Recorded> {
  if (recorded) return recorded;
  const dir = mkdtempSync(join(tmpdir(), 'mmu-bench-realtrace-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const dat = join(dir, 'real.trace.dat');
  await recordTraceDat(dir, dat, WORKLOAD);
  const text = join(dir, 'real.report.txt');
  reportSeconds(dat, text);
  const lines = readFileSync(text, 'latin1').split('\n').length - 1;
  if (lines < 300_000) throw new Error(`the recorded trace has ${lines} lines, fewer than the 300 k the figure needs`);
  recorded = { dir, dat, text, lines };
  process.stderr.write(`  recorded a real kvm + kvmmmu trace: ${lines} lines of trace-cmd report text\n`);
  return recorded;
}

/** `trace-cmd report -i DAT > TEXT`, wall seconds. */
function reportSeconds(dat: string, text: string): number {
  const started = performance.now();
  execFileSync('sh', ['-c', 'trace-cmd report -i "$1" > "$2"', 'sh', dat, text], { stdio: 'pipe' });
  return (performance.now() - started) / 1000;
}

/** `mmu-lab import TEXT -o OUT -q` as a user runs it, wall seconds. */
function importSeconds(text: string): number {
  const out = join(recorded!.dir, 'real.mmulab');
  const started = performance.now();
  const r = spawnSync(process.execPath, [bin, 'import', text, '-o', out, '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seconds = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`mmu-lab import exited ${r.status}: ${String(r.stderr).split('\n')[0]}`);
  return seconds;
}

/** CPU seconds (user + system) of a command, by /usr/bin/time: what a loaded machine changes less than wall time. */
function cpuSeconds(argv: string[], stdoutTo?: string): number {
  const times = join(recorded!.dir, 'times.txt');
  const cmd = `/usr/bin/time -f '%U %S' -o "$1" "$@"`.replace('"$@"', '"${@:2}"');
  const shell = stdoutTo ? `${cmd} > "${stdoutTo}"` : cmd;
  execFileSync('bash', ['-c', shell, 'bash', times, ...argv], { stdio: 'pipe' });
  const [user, sys] = readFileSync(times, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return user! + sys!;
}

export function benchmarks(): Benchmark[] {
  const why = missing();
  if (why) throw new Error(`skipped: ${why}`);
  // the CLI bundle is built (when stale) before any sample
  execFileSync(process.execPath, [bin, '--version'], { stdio: 'pipe' });
  // (the trace is recorded by the first sample that needs it; every later one reads `recorded`)
  const reportLinesPerSecond = () => recorded!.lines / reportSeconds(recorded!.dat, join(recorded!.dir, 'again.txt'));
  const importLinesPerSecond = () => recorded!.lines / importSeconds(recorded!.text);
  return [
    {
      name: 'realtrace.report-import',
      group: 'realtrace',
      figure: { name: 'mmu-lab import of trace-cmd report text of a real kvm+kvmmmu trace (≥300 k lines)', unit: 'lines/s', better: 'higher' },
      run: async () => (await record(), importLinesPerSecond()),
      baseline: { name: 'trace-cmd report making it from trace.dat', run: async () => (await record(), reportLinesPerSecond()) },
      warmup: 0,
      repetitions: 3,
    },
    {
      name: 'realtrace.report-import.cpu',
      group: 'realtrace',
      // informational: lines per CPU second of each process (user + system, /usr/bin/time)
      figure: { name: 'mmu-lab import lines per CPU second (same trace)', unit: 'lines/cpu-s', better: 'higher' },
      run: async () => {
        const r = await record();
        return r.lines / cpuSeconds([process.execPath, bin, 'import', r.text, '-o', join(r.dir, 'cpu.mmulab'), '-q']);
      },
      baseline: {
        name: 'trace-cmd report',
        run: async () => {
          const r = await record();
          return r.lines / cpuSeconds(['trace-cmd', 'report', '-i', r.dat], join(r.dir, 'cpu.txt'));
        },
      },
      warmup: 0,
      repetitions: 3,
    },
    {
      name: 'realtrace.report-import.ratio',
      group: 'realtrace',
      // interleaved pairs: a load change on a shared machine hits both sides
      figure: { name: 'import lines/s ÷ trace-cmd report lines/s (median of interleaved pairs)', unit: '×', better: 'higher', budget: 1 },
      run: async () => (await record(), interleavedRatio(PAIRS, importLinesPerSecond, reportLinesPerSecond)),
      warmup: 0,
      repetitions: 1,
    },
  ];
}
