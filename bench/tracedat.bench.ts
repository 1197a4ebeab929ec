/**
 * trace.dat import beside trace-cmd, on a kvm + kvmmmu trace.dat of at least 300 k events recorded
 * on this host (the harness guest, tools/realkvm, in a tracefs instance of its own, then
 * `trace-cmd extract`), or the file named by MMU_BENCH_TRACEDAT. Both tools run as the user runs
 * them, one fresh process each: `mmu-lab import x.trace.dat` against `trace-cmd report -i
 * x.trace.dat > /dev/null`: wall time (timed here), CPU of every thread and peak RSS (by
 * /usr/bin/time). `tracedat.import.ratio` is the figure itself: trace-cmd's wall over
 * mmu-lab's, the median of interleaved pairs.
 * MMU_BENCH_TRACEDAT_VMS sets the trace's size (5 VMs: ~325 k events). The same figures again
 * on a larger trace (`tracedat.import.large*`: MMU_BENCH_TRACEDAT_LARGE_VMS, default 25 VMs,
 * ~1.6 M events; 0 skips them; MMU_BENCH_TRACEDAT_LARGE names a file instead), where the fixed
 * start-up of both tools weighs less. Needs root, /dev/kvm, tracefs, gcc and trace-cmd to
 * record; without them the group says which is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interleavedRatio, type Benchmark } from './harness.ts';
import { missing, recordTraceDat } from '../sessions/testing/recordTraceDat.ts';

const MIN_EVENTS = 300_000;
/** VMs the harness guest runs one after another: ~65 k events each (5: ~325 k; 25: ~1.6 M). */
const VMS = Number(process.env.MMU_BENCH_TRACEDAT_VMS ?? 5);
/** The larger trace's VMs (0: not measured): where the fixed start-up of both tools weighs less. */
const LARGE_VMS = Number(process.env.MMU_BENCH_TRACEDAT_LARGE_VMS ?? 25);
const ROOT = new URL('../', import.meta.url).pathname;
/** Interleaved pairs for the ratio figures (a pair of the default trace takes ~1 s, of the large one ~4 s). */
const PAIRS = 9;
const LARGE_PAIRS = 3;

interface Run {
  seconds: number;
  cpuSeconds: number;
  peakRssMB: number;
}

type Size = 'default' | 'large';

let dir: string | undefined;
const traces = new Map<Size, { path: string; events: number }>();

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
  while (r.advance()) n++;
  r.close();
  return n;
}

/** Record the harness guest's guest-#PF workload, `vms` VMs one after another. */
async function record(vms: number): Promise<string> {
  const path = join(workDir(), `kvm-${vms}vm.trace.dat`);
  await recordTraceDat(workDir(), path, ['gpf', '256', '1', String(vms)], {}, Math.max(65536, vms * 8192));
  return path;
}

async function traceFile(size: Size): Promise<{ path: string; events: number }> {
  let trace = traces.get(size);
  if (!trace) {
    const given = size === 'default' ? process.env.MMU_BENCH_TRACEDAT : process.env.MMU_BENCH_TRACEDAT_LARGE;
    const vms = size === 'default' ? VMS : LARGE_VMS;
    if (!given) {
      const why = missing() ?? (existsSync('/usr/bin/time') ? undefined : 'no /usr/bin/time');
      if (why) throw new Error(`cannot record a trace.dat here (${why}); set MMU_BENCH_TRACEDAT to one`);
    }
    process.stderr.write(given ? `  counting the events of ${given} …\n` : `  recording a kvm + kvmmmu trace.dat with the harness guest (${vms} VMs) …\n`);
    const path = given ?? (await record(vms));
    const events = await countEvents(path);
    if (events < MIN_EVENTS) throw new Error(`${path} has ${events} events; the figure needs at least ${MIN_EVENTS}`);
    process.stderr.write(`  ${path}: ${events} events\n`);
    trace = { path, events };
    traces.set(size, trace);
  }
  return trace;
}

/**
 * Run a command under /usr/bin/time: wall seconds (timed here: /usr/bin/time's own has 10 ms
 * steps, 3 % of a 0.3 s import), CPU seconds of every thread and peak RSS (from /usr/bin/time).
 */
function timed(cmd: string, args: string[], stdoutTo?: string): Run {
  const out = join(workDir(), 'time.txt');
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, cmd, ...args], { stdio: ['ignore', stdoutTo ? 'pipe' : 'ignore', 'pipe'], maxBuffer: 1 << 30 });
  const wall = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.toString().split('\n')[0]}`);
  const [, user, sys, rssKb] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(/\s+/).map(Number);
  return { seconds: wall, cpuSeconds: user! + sys!, peakRssMB: rssKb! / 1024 };
}

/** One fresh process of `tool` on `path`, as the user runs it. */
function runTool(tool: 'mmu-lab' | 'trace-cmd', path: string): Run {
  return tool === 'mmu-lab'
    ? timed(process.execPath, [join(ROOT, 'bin', 'mmu-lab.js'), 'import', path, '-o', join(workDir(), 'kvm.mmulab'), '-q'])
    : timed('trace-cmd', ['report', '-i', path]);
}

const runs = new Map<string, Run>();
async function measureTool(tool: 'mmu-lab' | 'trace-cmd', size: Size, fresh: boolean): Promise<Run & { events: number }> {
  const t = await traceFile(size);
  const key = `${tool} ${size}`;
  let r = fresh ? undefined : runs.get(key);
  if (!r) {
    r = runTool(tool, t.path);
    runs.set(key, r);
  }
  return { ...r, events: t.events };
}

/** The three figures (wall, CPU, peak RSS) on the trace of `size`, named from `prefix`. */
function figures(prefix: string, size: Size, what: string, warmup: number, repetitions: number, pairs: number): Benchmark[] {
  const once = { warmup: 0, repetitions: 1 };
  return [
    {
      name: `${prefix}.ratio`,
      group: 'tracedat',
      // the figure itself, each pair back to back (trace-cmd first), so a change of load
      // on a shared machine hits both sides of each ratio
      figure: { name: `trace-cmd report wall ÷ mmu-lab import wall, ${what} (median of ${pairs} interleaved pairs)`, unit: '×', better: 'higher', budget: 2 },
      run: async () => {
        const { path } = await traceFile(size);
        runTool('mmu-lab', path); // the page cache and the CLI bundle as a user's second run finds them
        return interleavedRatio(
          pairs,
          () => 1 / runTool('mmu-lab', path).seconds,
          () => 1 / runTool('trace-cmd', path).seconds,
        );
      },
      ...once,
    },
    {
      name: prefix,
      group: 'tracedat',
      // ratio = mmu-lab's events/s over trace-cmd report's on the same file: the issue asks ≥ 2
      figure: { name: `mmu-lab import of ${what} (whole process)`, unit: 'events/s', better: 'higher' },
      run: async () => {
        const r = await measureTool('mmu-lab', size, true);
        return r.events / r.seconds;
      },
      baseline: {
        name: 'trace-cmd report',
        run: async () => {
          const r = await measureTool('trace-cmd', size, true);
          return r.events / r.seconds;
        },
      },
      warmup,
      repetitions,
    },
    {
      name: `${prefix}.cpu`,
      group: 'tracedat',
      // CPU seconds of each process (every thread): what each costs when other work loads the machine
      figure: { name: `events per CPU second of the importing process (${what})`, unit: 'events/cpu-s', better: 'higher' },
      run: async () => {
        const r = await measureTool('mmu-lab', size, false);
        return r.events / r.cpuSeconds;
      },
      baseline: {
        name: 'trace-cmd report',
        run: async () => {
          const r = await measureTool('trace-cmd', size, false);
          return r.events / r.cpuSeconds;
        },
      },
      ...once,
    },
    {
      name: `${prefix}.peak-rss`,
      group: 'tracedat',
      figure: { name: `peak RSS of the importing process (${what}; bounded: constant in the file size)`, unit: 'MB', better: 'lower', budget: 400 },
      run: async () => (await measureTool('mmu-lab', size, false)).peakRssMB,
      baseline: { name: 'trace-cmd report', run: async () => (await measureTool('trace-cmd', size, false)).peakRssMB },
      ...once,
    },
  ];
}

export function benchmarks(): Benchmark[] {
  return [
    ...figures('tracedat.import', 'default', `a ≥300 k-event kvm+kvmmmu trace.dat (${VMS} VMs of the harness guest)`, 1, 3, PAIRS),
    ...(LARGE_VMS > 0 ? figures('tracedat.import.large', 'large', `a ~${Math.round((LARGE_VMS * 65) / 100) / 10} M-event kvm+kvmmmu trace.dat (${LARGE_VMS} VMs)`, 0, 3, LARGE_PAIRS) : []),
  ];
}
