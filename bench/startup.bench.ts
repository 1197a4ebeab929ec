/**
 * Start-up of the `mmu-lab` command (issue 16 §5): the wall time of `mmu-lab --version` through
 * bin/mmu-lab.js, as a user's shell starts it, beside `node -e 0` on the same machine in the
 * same run: Node's own start-up is the floor no CLI can go under. The ratio's budget is 3×.
 * The ratio is taken over interleaved pairs, so a load change on a shared machine hits both.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Benchmark } from './harness.ts';
import { interleavedRatio } from './harness.ts';

const bin = fileURLToPath(new URL('../bin/mmu-lab.js', import.meta.url));
const PAIRS = 11;

function wallMs(args: string[]): number {
  const started = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${String(r.stderr).split('\n')[0]}`);
  return ms;
}

const cliVersion = () => wallMs([bin, '--version']);
const nodeBare = () => wallMs(['-e', '0']);

export function benchmarks(): Benchmark[] {
  // (`npm run bench` builds first, and the warm-up runs would build a stale CLI bundle anyway.)
  return [
    {
      name: 'startup.cli-version',
      group: 'startup',
      figure: { name: 'mmu-lab --version wall time', unit: 'ms', better: 'lower' },
      run: cliVersion,
      baseline: { name: 'node -e 0', run: nodeBare },
      warmup: 2,
      repetitions: 15,
    },
    {
      name: 'startup.cli-version.ratio',
      group: 'startup',
      figure: { name: 'mmu-lab --version ÷ node -e 0 (median of interleaved pairs)', unit: '×', better: 'lower', budget: 3 },
      run: () => interleavedRatio(PAIRS, cliVersion, nodeBare),
      warmup: 0,
      repetitions: 3,
    },
  ];
}
