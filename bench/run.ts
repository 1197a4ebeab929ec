/**
 * `npm run bench [-- name...]`: runs the named benchmarks (all by default), prints a table and
 * writes bench/results.json. A name matches a benchmark by its name or its group.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describeMachine, formatTable, measure, type BenchResult, type Benchmark } from './harness.ts';

type Group = () => Promise<Benchmark[]>;

/** Groups load lazily so `npm run bench -- engine` does not pay for the others' set-up. */
const GROUPS: Record<string, Group> = {
  engine: async () => (await import('./engine.bench.ts')).benchmarks(),
  sessions: async () => (await import('./sessions.bench.ts')).benchmarks(),
  seeds: async () => (await import('./seeds.bench.ts')).benchmarks(),
  scale: async () => (await import('./scale.bench.ts')).benchmarks(),
  import: async () => (await import('./import.bench.ts')).benchmarks(),
  tracedat: async () => (await import('./tracedat.bench.ts')).benchmarks(),
  renderer: async () => (await import('./renderer.bench.ts')).benchmarks(),
  labs: async () => (await import('./labs.bench.ts')).benchmarks(),
  host: async () => (await import('./host.bench.ts')).benchmarks(),
  startup: async () => (await import('./startup.bench.ts')).benchmarks(),
  realtrace: async () => (await import('./realTrace.bench.ts')).benchmarks(),
};

/** Reports a group prints after the table when it runs (the seeds' sensitivity table). */
const REPORTS: Record<string, () => Promise<string>> = {
  seeds: async () => (await import('./tornado.ts')).tornadoReport(),
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const started = Date.now();
  const results: BenchResult[] = [];
  const notes: string[] = [];
  for (const [group, load] of Object.entries(GROUPS)) {
    let benches: Benchmark[];
    try {
      benches = await load();
    } catch (error) {
      notes.push(`${group}: not available (${(error as Error).message.split('\n')[0]})`);
      continue;
    }
    for (const bench of benches) {
      if (wanted.length && !wanted.some((w) => w === group || w === bench.name)) continue;
      process.stderr.write(`running ${bench.name} …\n`);
      try {
        results.push(await measure(bench));
      } catch (error) {
        // One broken benchmark must not cost the figures of all the others.
        notes.push(`${bench.name}: failed (${(error as Error).message.split('\n')[0]})`);
      }
    }
  }
  const reports: string[] = [];
  for (const [group, report] of Object.entries(REPORTS)) {
    if (wanted.length && !wanted.includes(group)) continue;
    process.stderr.write(`running the ${group} report …\n`);
    reports.push(await report());
  }
  const elapsed = (Date.now() - started) / 1000;
  console.log(formatTable(results));
  for (const report of reports) console.log(report);
  for (const note of notes) console.log(`note: ${note}`);
  console.log(`\n${results.length} benchmarks in ${elapsed.toFixed(1)} s`);
  const missed = results.filter((r) => r.meetsBudget === false).map((r) => r.name);
  if (missed.length) console.log(`over budget: ${missed.join(', ')} (see docs/performance.md)`);
  writeResults(results, notes, elapsed, wanted.length > 0);
}

interface ResultsFile {
  machine: Record<string, string | number>;
  date: string;
  elapsedSeconds: number;
  results: (BenchResult & { date?: string })[];
  notes: string[];
}

/**
 * A full run replaces bench/results.json; a partial run (`npm run bench -- name`) updates the
 * figures it measured and keeps the others, each result carrying the date it was measured.
 */
function writeResults(results: BenchResult[], notes: string[], elapsed: number, partial: boolean): void {
  const url = new URL('./results.json', import.meta.url);
  const date = new Date().toISOString();
  const dated = results.map((r) => ({ ...r, date }));
  let previous: ResultsFile | undefined;
  if (partial && existsSync(url)) {
    try {
      previous = JSON.parse(readFileSync(url, 'utf8')) as ResultsFile;
    } catch {
      previous = undefined;
    }
  }
  const measured = new Set(results.map((r) => r.name));
  const kept = previous?.results.filter((r) => !measured.has(r.name)) ?? [];
  const json: ResultsFile = {
    machine: describeMachine(),
    date,
    elapsedSeconds: partial ? (previous?.elapsedSeconds ?? elapsed) : elapsed,
    results: [...kept, ...dated],
    notes: [...(previous?.notes.filter((n) => !measured.has(n.split(':')[0]!)) ?? []), ...notes],
  };
  writeFileSync(url, JSON.stringify(json, null, 2) + '\n');
  console.log(partial ? `updated ${results.length} figures in bench/results.json` : 'wrote bench/results.json');
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(1);
});
