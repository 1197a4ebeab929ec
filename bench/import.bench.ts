/**
 * Trace import figures on generated trace texts (bench/traceGen.ts) of MMU_BENCH_IMPORT_MB MiB
 * (default 200; 1024 for the 1 GB figure of the issue) in each flavour: lines per second beside
 * reading and splitting the same file into lines, the import's time beside `wc -l` on the same
 * file, lines per CPU second (what the importer costs when others load the machine), and the
 * peak RSS of the importing process. Each import runs in a fresh process (bench/importProbe.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark } from './harness.ts';
import { writeTrace, type GenFlavour } from './traceGen.ts';

const MB = Number(process.env.MMU_BENCH_IMPORT_MB ?? 200);
const FLAVOURS: GenFlavour[] = ['ftrace', 'trace-cmd', 'perf'];

interface Probe {
  lines: number;
  records: number;
  seconds: number;
  cpuSeconds: number;
  linesPerSecond: number;
  linesPerCpuSecond: number;
  peakRssMB: number;
}

let dir: string | undefined;
const files = new Map<GenFlavour, { path: string; lines: number }>();
const probes = new Map<string, Probe>();

function traceFile(flavour: GenFlavour): { path: string; lines: number } {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'mmu-bench-import-'));
    const d = dir;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  let f = files.get(flavour);
  if (!f) {
    const path = join(dir, `${flavour}.txt`);
    process.stderr.write(`  generating ${MB} MiB of ${flavour} text …\n`);
    f = { path, lines: writeTrace(path, flavour, MB) };
    files.set(flavour, f);
  }
  return f;
}

function probe(flavour: GenFlavour, mode: 'import' | 'split'): Probe {
  const key = `${flavour}/${mode}`;
  let p = probes.get(key);
  if (!p) {
    const f = traceFile(flavour);
    const script = new URL('./importProbe.ts', import.meta.url).pathname;
    const args = ['--import', 'tsx', script, f.path, join(dir!, `${flavour}.mmulab`), ...(mode === 'split' ? ['--split'] : [])];
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    p = JSON.parse(out.trim().split('\n').pop()!) as Probe;
    if (p.lines !== f.lines) throw new Error(`${flavour}: ${mode} saw ${p.lines} lines, the generator wrote ${f.lines}`);
    probes.set(key, p);
  }
  return p;
}

function wcSeconds(flavour: GenFlavour): number {
  const f = traceFile(flavour);
  const started = performance.now();
  const out = execFileSync('wc', ['-l', f.path], { encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  if (Number(out.trim().split(/\s+/)[0]) !== f.lines) throw new Error(`wc -l disagrees with the generator on ${f.path}`);
  return seconds;
}

export function benchmarks(): Benchmark[] {
  const once = { warmup: 0, repetitions: 1 };
  return FLAVOURS.flatMap((flavour): Benchmark[] => [
    {
      name: `import.${flavour}`,
      group: 'import',
      figure: { name: `import ${MB} MiB of ${flavour} text`, unit: 'lines/s', better: 'higher', budget: 500_000 },
      // A fresh import each repetition: one run on a shared 2-core machine is too noisy to stand alone.
      run: () => {
        probes.delete(`${flavour}/import`);
        return probe(flavour, 'import').linesPerSecond;
      },
      baseline: { name: 'read+split lines', run: () => probe(flavour, 'split').linesPerSecond },
      warmup: 0,
      repetitions: 3,
    },
    {
      name: `import.${flavour}.vs-wc`,
      group: 'import',
      figure: { name: `import time of the same ${MB} MiB beside wc -l`, unit: 's', better: 'lower' },
      run: () => probe(flavour, 'import').seconds,
      baseline: { name: 'wc -l', run: () => wcSeconds(flavour) },
      ...once,
    },
    {
      name: `import.${flavour}.cpu`,
      group: 'import',
      // Informational: with the parse on a second thread, CPU seconds exceed wall seconds.
      figure: { name: 'import lines per CPU second of the importing process', unit: 'lines/cpu-s', better: 'higher' },
      run: () => probe(flavour, 'import').linesPerCpuSecond,
      baseline: { name: 'read+split lines', run: () => probe(flavour, 'split').linesPerCpuSecond },
      ...once,
    },
    {
      name: `import.${flavour}.peak-rss`,
      group: 'import',
      figure: { name: 'importing process peak RSS (constant in the file size)', unit: 'MB', better: 'lower', budget: 400 },
      run: () => probe(flavour, 'import').peakRssMB,
      baseline: { name: 'read+split lines', run: () => probe(flavour, 'split').peakRssMB },
      ...once,
    },
  ]);
}
