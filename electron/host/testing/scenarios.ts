// The host tests' scenario: kbuild-like VMs (8 processes) on long-mode guest paging and shadow
// paging, one vCPU each; real workers run them.
import { parseScenario, type Scenario } from '../../../core/scenario.ts';

/** Workload iterations that never end within a test. */
export const ENDLESS = 100_000;

/** VM i runs `iterations[i]` loops of the kbuild workload over 16 pages per process. */
export function kbuildScenario(name: string, seed: number, iterations: number[]): Scenario {
  const parsed = parseScenario({
    name,
    seed,
    vms: iterations.map((n) => ({
      vcpus: 1,
      guest: { paging: 'long4', workload: { kind: 'kbuild', processes: 8, pages: 16, iterations: n } },
      mmu: { mode: 'shadow' },
    })),
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}
