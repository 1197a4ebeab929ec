// Same scenario + seed → the same session, whoever runs the engine: the desktop host runs each
// VM in its own worker thread and writes events as they arrive from several threads; the CLI
// runs every VM in this thread. Both sessions must export to byte-identical JSONL, and so must a
// second recording, for scenarios that stress ordering (several vCPUs, several VMs, host work
// racing vCPUs, lock waits, Xen hypercalls, nested exits).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJsonl } from '../../sessions/export.ts';
import { openSession } from '../../sessions/reader.ts';
import { recordScenario } from '../../sessions/record.ts';
import { builtinScenario } from '../../sessions/testing/recordBuiltin.ts';
import { HostService } from './hostService.ts';

// large-page-loop-bug ends in the engine's endless-fault-loop guard: an incomplete session.
const SCENARIOS = ['cow-update', 'multi-vcpu', 'tdp-legacy-mmu-lock', 'race-fast-pf-aba', 'xenpv-fork-cow', 'nested-tdp', 'nested-shadow-vs-tdp', 'unsync-populate', 'large-page-loop-bug'];
const SEED = 1234;

let dir: string;
let service: HostService;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-determinism-'));
  service = new HostService({ sessionsDir: dir, host: 'browser' });
});

afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The JSONL export, and how the file says the recording ended. */
function read(path: string): { jsonl: string; complete: boolean; stopped: string[] } {
  const { session, diagnostics } = openSession(path);
  if (!session) throw new Error(diagnostics.map((d) => d.message).join('; '));
  let jsonl = '';
  exportJsonl(session, (chunk) => (jsonl += chunk));
  const stopped = diagnostics.filter((d) => d.code === 'recording_stopped').map((d) => d.message);
  return { jsonl, complete: session.summary().complete, stopped };
}

describe('determinism', () => {
  it.each(SCENARIOS)('%s: worker threads and the main thread record the same events, run after run', async (name) => {
    const scenario = { ...builtinScenario(name), seed: SEED };
    const mainA = join(dir, `${name}-main-a.mmulab`);
    const mainB = join(dir, `${name}-main-b.mmulab`);
    recordScenario(scenario, mainA);
    recordScenario(scenario, mainB);

    const run = await service.vms.start(scenario, { sessionId: `${name}-workers.mmulab` });
    const final = await service.waitForRun(run.runId);
    expect(final.state, final.message).toBe('finished');

    const expected = read(mainA);
    expect(expected.jsonl.split('\n').length).toBeGreaterThan(10);
    expect(read(mainB)).toEqual(expected);
    // Same events, and the same verdict on whether the workload ran to its end.
    expect(read(join(dir, `${name}-workers.mmulab`))).toEqual(expected);
    expect(expected.complete).toBe(name !== 'large-page-loop-bug');
  });
});
