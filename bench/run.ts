/**
 * `npm run bench [-- name...]`: runs the named benchmarks (all by default), prints a table and
 * writes bench/results.json. A name matches a benchmark by its name or its group.
 */
import { writeFileSync } from 'node:fs';
import { describeMachine, formatTable, measure, type BenchResult, type Benchmark } from './harness.ts';

type Group = () => Promise<Benchmark[]>;

/** Groups load lazily so `npm run bench -- engine` does not pay for the others' set-up. */
const GROUPS: Record<string, Group> = {
  engine: async () => (await import('./engine.bench.ts')).benchmarks(),
  sessions: async () => (await import('./sessions.bench.ts')).benchmarks(),
  seeds: async () => (await import('./seeds.bench.ts')).benchmarks(),
  scale: async () => (await import('./scale.bench.ts')).benchmarks(),
  import: async () => (await import('./import.bench.ts')).benchmarks(),
  renderer: async () => (await import('./renderer.bench.ts')).benchmarks(),
  labs: async () => (await import('./labs.bench.ts')).benchmarks(),
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
      results.push(await measure(bench));
    }
  }
  const elapsed = (Date.now() - started) / 1000;
  console.log(formatTable(results));
  for (const note of notes) console.log(`note: ${note}`);
  console.log(`\n${results.length} benchmarks in ${elapsed.toFixed(1)} s`);
  const missed = results.filter((r) => r.meetsBudget === false).map((r) => r.name);
  if (missed.length) console.log(`over budget: ${missed.join(', ')} (see docs/performance.md)`);
  if (wanted.length === 0) {
    const json = { machine: describeMachine(), date: new Date().toISOString(), elapsedSeconds: elapsed, results, notes };
    writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify(json, null, 2) + '\n');
    console.log('wrote bench/results.json');
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(1);
});
