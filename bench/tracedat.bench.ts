/**
 * trace.dat import beside trace-cmd, on a kvm + kvmmmu trace.dat of at least 300 k events recorded
 * on this host (the harness guest, tools/realkvm, in a tracefs instance of its own, then
 * `trace-cmd extract`), or the file named by MMU_BENCH_TRACEDAT. Both tools run as the user runs
 * them, one fresh process each: `mmu-lab import x.trace.dat` against `trace-cmd report -i
 * x.trace.dat > /dev/null`, timed by /usr/bin/time (wall, CPU, peak RSS). MMU_BENCH_TRACEDAT_VMS
 * sets the trace's size (5 VMs: ~325 k events; 25: ~1.6 M). Needs root, /dev/kvm,
 * tracefs, gcc and trace-cmd to record; without them the group says which is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark } from './harness.ts';
import { missing, recordTraceDat } from '../sessions/testing/recordTraceDat.ts';

const MIN_EVENTS = 300_000;
/** VMs the harness guest runs one after another: ~65 k events each (5: ~325 k; 25: ~1.6 M). */
const VMS = Number(process.env.MMU_BENCH_TRACEDAT_VMS ?? 5);
const ROOT = new URL('../', import.meta.url).pathname;

interface Run {
  seconds: number;
  cpuSeconds: number;
  peakRssMB: number;
}

let dir: string | undefined;
let trace: { path: string; events: number } | undefined;

function workDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'mmu-bench-tracedat-'));
    const d = dir;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

async function countEvents(path: string): Promise<number> {
  const { TraceDatReader } = await import('../sessions/tracedat/reader.ts');
  const r = await TraceDatReader.open(path);
  let n = 0;
  while (r.next()) n++;
  r.close();
  return n;
}

/** Record the harness guest's guest-#PF workload, VMS VMs one after another. */
async function record(): Promise<string> {
  const path = join(workDir(), 'kvm.trace.dat');
  await recordTraceDat(workDir(), path, ['gpf', '256', '1', String(VMS)], {}, Math.max(65536, VMS * 8192));
  return path;
}

async function traceFile(): Promise<{ path: string; events: number }> {
  if (!trace) {
    const given = process.env.MMU_BENCH_TRACEDAT;
    if (!given) {
      const why = missing() ?? (existsSync('/usr/bin/time') ? undefined : 'no /usr/bin/time');
      if (why) throw new Error(`cannot record a trace.dat here (${why}); set MMU_BENCH_TRACEDAT to one`);
    }
    process.stderr.write(given ? `  counting the events of ${given} …\n` : '  recording a kvm + kvmmmu trace.dat with the harness guest …\n');
    const path = given ?? (await record());
    const events = await countEvents(path);
    if (events < MIN_EVENTS) throw new Error(`${path} has ${events} events; the figure needs at least ${MIN_EVENTS}`);
    trace = { path, events };
  }
  return trace;
}

/** Run a command under /usr/bin/time: wall and CPU seconds, peak RSS. */
function timed(cmd: string, args: string[], stdoutTo?: string): Run {
  const out = join(workDir(), 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, cmd, ...args], { stdio: ['ignore', stdoutTo ? 'pipe' : 'ignore', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.toString().split('\n')[0]}`);
  const [wall, user, sys, rssKb] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(/\s+/).map(Number);
  return { seconds: wall!, cpuSeconds: user! + sys!, peakRssMB: rssKb! / 1024 };
}

const runs = new Map<string, Run>();
async function measureTool(tool: 'mmu-lab' | 'trace-cmd', fresh: boolean): Promise<Run & { events: number }> {
  const t = await traceFile();
  let r = fresh ? undefined : runs.get(tool);
  if (!r) {
    r =
      tool === 'mmu-lab'
        ? timed(process.execPath, [join(ROOT, 'bin', 'mmu-lab.js'), 'import', t.path, '-o', join(workDir(), 'kvm.mmulab'), '-q'])
        : timed('trace-cmd', ['report', '-i', t.path]);
    runs.set(tool, r);
  }
  return { ...r, events: t.events };
}

export function benchmarks(): Benchmark[] {
  const once = { warmup: 0, repetitions: 1 };
  return [
    {
      name: 'tracedat.import',
      group: 'tracedat',
      // ratio = mmu-lab's events/s over trace-cmd report's on the same file: the issue asks ≥ 2
      figure: { name: 'mmu-lab import of a ≥300 k-event kvm+kvmmmu trace.dat (whole process)', unit: 'events/s', better: 'higher' },
      run: async () => {
        const r = await measureTool('mmu-lab', true);
        return r.events / r.seconds;
      },
      baseline: {
        name: 'trace-cmd report',
        run: async () => {
          const r = await measureTool('trace-cmd', true);
          return r.events / r.seconds;
        },
      },
      warmup: 1,
      repetitions: 3,
    },
    {
      name: 'tracedat.import.cpu',
      group: 'tracedat',
      // CPU seconds of each process: what each costs when other work loads the machine
      figure: { name: 'events per CPU second of the importing process', unit: 'events/cpu-s', better: 'higher' },
      run: async () => {
        const r = await measureTool('mmu-lab', false);
        return r.events / r.cpuSeconds;
      },
      baseline: {
        name: 'trace-cmd report',
        run: async () => {
          const r = await measureTool('trace-cmd', false);
          return r.events / r.cpuSeconds;
        },
      },
      ...once,
    },
    {
      name: 'tracedat.import.peak-rss',
      group: 'tracedat',
      figure: { name: 'peak RSS of the importing process (bounded: constant in the file size)', unit: 'MB', better: 'lower', budget: 400 },
      run: async () => (await measureTool('mmu-lab', false)).peakRssMB,
      baseline: { name: 'trace-cmd report', run: async () => (await measureTool('trace-cmd', false)).peakRssMB },
      ...once,
    },
  ];
}
