/**
 * The host's run limits (issue 18 §2, §7): how long Stop takes to report a flat-out run
 * `stopped`, and how long the host takes to shut down right at Stop after a large run. Before
 * the limits both waited for the keyframe pass over the whole session (Stop: 10 s, shutdown:
 * 11-12 s after 3 M events); now the run ends when its session is closed and shutdown cuts the
 * pass short (docs/host.md, Limits).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScenario, type Scenario } from '../core/scenario.ts';
import { HostService } from '../electron/host/hostService.ts';
import type { Benchmark } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmu-bench-host-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Four VMs of a kbuild that never ends, recorded flat out. */
function endless(): Scenario {
  const vm = { vcpus: 1, guest: { paging: 'long4', workload: { kind: 'kbuild', processes: 8, pages: 16, iterations: 100_000 } }, mmu: { mode: 'shadow' } };
  const parsed = parseScenario({ name: 'bench host', seed: 5, vms: [vm, vm, vm, vm] });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/** Record until `events`, press Stop, and time what `after` waits for (ms). */
async function stopAfter(events: number, after: (service: HostService, runId: string) => Promise<void>): Promise<number> {
  const service = new HostService({ sessionsDir: mkdtempSync(join(dir, 'run-')), host: 'browser' });
  try {
    const run = await service.vms.start(endless(), { sessionId: 'bench.mmulab', maxEvents: null });
    while (service.vms.status(run.runId).events < events) await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    service.vms.control(run.runId, 'stop');
    await after(service, run.runId);
    return performance.now() - started;
  } finally {
    await service.close();
  }
}

export function benchmarks(): Benchmark[] {
  return [
    {
      name: 'host-stop',
      group: 'host',
      figure: { name: 'Stop of a flat-out 4-VM run after 1 M events: until it reports stopped', unit: 'ms', better: 'lower', budget: 1000 },
      run: () =>
        stopAfter(1_000_000, async (service, runId) => {
          while (service.vms.status(runId).state === 'running') await new Promise((r) => setTimeout(r, 5));
        }),
      warmup: 0,
      repetitions: 1,
    },
    {
      name: 'host-shutdown',
      group: 'host',
      figure: { name: 'shutdown right at Stop after a 3 M-event run (HostService.close)', unit: 'ms', better: 'lower', budget: 2000 },
      run: () => stopAfter(3_000_000, (service) => service.close()),
      warmup: 0,
      repetitions: 1,
    },
  ];
}
