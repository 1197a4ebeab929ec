// The host's run limits with real worker threads and real session files: runs at once, worker
// heaps shared out of a memory budget, the memory watchdog firing for real on a low budget, Stop
// of a wedged worker, the default event bound, and a shutdown that cuts the keyframe pass short.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './testing/wait.ts';
import { ENDLESS, kbuildScenario } from './testing/scenarios.ts';
import { openSession } from '../../sessions/reader.ts';
import { KEYFRAME_EVENTS } from '../../sessions/annex.ts';
import { DEFAULT_MAX_EVENTS } from '../../sessions/record.ts';
import { HostService } from './hostService.ts';
import { VmManager } from './vmManager.ts';
import { MIN_WORKER_HEAP_MB, runLimits } from './runLimits.ts';
import { PENDING_FILE } from './keyframeJobs.ts';

let dir: string;
const MB = 1024 * 1024;

const scenario = (iterations: number[]) => kbuildScenario('limits test', 7, iterations);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-limits-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run limits', () => {
  it('default to half the machine and take MMU_LAB_MEMORY_BUDGET_MB / MMU_LAB_MAX_RUNS', () => {
    expect(runLimits({}, {}).memoryBudgetBytes).toBe(Math.floor(totalmem() / 2));
    expect(runLimits({}, { MMU_LAB_MEMORY_BUDGET_MB: '512', MMU_LAB_MAX_RUNS: '1' })).toEqual({ memoryBudgetBytes: 512 * MB, maxRuns: 1 });
  });

  it('refuse a run past the runs-at-once limit, and take one again once a run ended', async () => {
    const vms = new VmManager({ sessionsDir: dir, limits: { maxRuns: 1, memoryBudgetBytes: 4096 * MB } });
    const a = await vms.start(scenario([ENDLESS]), { sessionId: 'a.mmulab' });
    await expect(vms.start(scenario([2]), { sessionId: 'b.mmulab' })).rejects.toThrow(/1 runs are already recording \(the limit is 1\)/);
    vms.control(a.runId, 'stop');
    await vms.waitForEnd(a.runId);
    const b = await vms.start(scenario([2]), { sessionId: 'b.mmulab' });
    expect((await vms.waitForEnd(b.runId)).state).toBe('finished');
    await vms.close();
  });

  it('share worker heaps out of the budget: VMs × heap must fit, also across runs', async () => {
    // 16 VMs need 16 × 64 MB; a 1000 MB budget has room for 15.
    const vms = new VmManager({ sessionsDir: dir, limits: { maxRuns: 5, memoryBudgetBytes: 1000 * MB } });
    await expect(vms.start(scenario(Array(16).fill(2)), { sessionId: 'big.mmulab' })).rejects.toThrow(
      new RegExp(`a run of 16 VMs needs ${16 * MIN_WORKER_HEAP_MB} MB of the host's memory budget and 1000 MB are free`),
    );
    // Two VMs take 500 MB each, so nothing is left for a second run while the first records.
    const a = await vms.start(scenario([ENDLESS, ENDLESS]), { sessionId: 'halves.mmulab' });
    await expect(vms.start(scenario([2]), { sessionId: 'none-left.mmulab' })).rejects.toThrow(/needs 64 MB .* and 0 MB are free .*1000 MB held by running runs/);
    vms.control(a.runId, 'stop');
    await vms.waitForEnd(a.runId);
    // two starts at once (two API calls): the second sees the room the first takes
    const both = await Promise.allSettled([
      vms.start(scenario([ENDLESS, ENDLESS]), { sessionId: 'race-a.mmulab' }),
      vms.start(scenario([ENDLESS, ENDLESS]), { sessionId: 'race-b.mmulab' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    for (const r of both) if (r.status === 'fulfilled') vms.control(r.value.runId, 'stop');
    for (const r of both) if (r.status === 'fulfilled') await vms.waitForEnd(r.value.runId);
    const b = await vms.start(scenario([2]), { sessionId: 'room-again.mmulab' });
    expect((await vms.waitForEnd(b.runId)).state).toBe('finished');
    await vms.close();
  });

  it('a memory watchdog stops a run, with a message, before the host passes its budget; the session stays valid', async () => {
    // A budget just above what the host uses now: the workers' own memory pushes it over.
    const budget = Math.ceil((process.memoryUsage.rss() + 40 * MB) / 0.9);
    const service = new HostService({ sessionsDir: dir, host: 'browser', limits: { memoryBudgetBytes: budget, maxRuns: 3 }, watchdogIntervalMs: 20 });
    try {
      const run = await service.vms.start(scenario([ENDLESS, ENDLESS]), { sessionId: 'watchdog.mmulab' });
      const final = await service.vms.waitForEnd(run.runId);
      expect(final.state).toBe('stopped');
      expect(final.message).toMatch(/stopped by the memory watchdog: the host reached \d+ MB of its \d+ MB budget; what was recorded is kept/);
      const { session } = openSession(join(dir, 'watchdog.mmulab'));
      expect(session!.complete).toBe(false);
      expect(session!.eventCount).toBe(final.events);
    } finally {
      await service.close();
    }
  });
});

describe('Stop', () => {
  it('ends a run whose worker never yields (terminated after a grace period); the session stays valid', async () => {
    const vms = new VmManager({ sessionsDir: dir });
    const run = await vms.start(scenario([ENDLESS, ENDLESS]), { sessionId: 'wedged.mmulab', wedgeAfterEvents: { 0: 2000 } });
    await waitFor(() => (vms.status(run.runId).vms?.[0]?.events ?? 0) >= 2000 && vms.status(run.runId).events > 4000);
    const t0 = performance.now();
    vms.control(run.runId, 'stop');
    const final = await vms.waitForEnd(run.runId);
    const ms = performance.now() - t0;
    console.log(`Stop of a run with a wedged worker: ended in ${ms.toFixed(0)} ms`);
    expect(final.state).toBe('stopped');
    expect(final.vms!.map((v) => v.state)).toEqual(['stopped', 'stopped']);
    // 500 ms of grace, then terminate: well inside the 1 s the host promises (a loaded CI gets slack here).
    expect(ms).toBeLessThan(1000);
    const { session, diagnostics } = openSession(join(dir, 'wedged.mmulab'));
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(session!.eventCount).toBe(final.events);
    await vms.close();
  });
});

describe('the default event bound', () => {
  it('stops each VM at the default bound with a message that says how to lift it; a chosen bound or none is kept', async () => {
    expect(DEFAULT_MAX_EVENTS).toBe(5_000_000);
    const vms = new VmManager({ sessionsDir: dir, defaultMaxEvents: 3000 });
    const bounded = await vms.start(scenario([ENDLESS, 2]), { sessionId: 'bounded.mmulab', liftBound: 'use --no-limit' });
    const end = await vms.waitForEnd(bounded.runId);
    expect(end.state).toBe('finished');
    // The engine stops after the step that reaches the bound (one step emits a few events).
    expect(end.vms![0]!.events).toBeGreaterThanOrEqual(3000);
    expect(end.vms![0]!.events).toBeLessThan(3100);
    expect(end.message).toContain('VM 0 stopped at the default bound of 3 000 events (use --no-limit to record it all)');
    const { session } = openSession(join(dir, 'bounded.mmulab'));
    expect(session!.complete).toBe(false);

    const chosen = await vms.start(scenario([ENDLESS]), { sessionId: 'chosen.mmulab', maxEvents: 2000 });
    expect((await vms.waitForEnd(chosen.runId)).message).toBe('VM 0 stopped at its bound of 2 000 events');

    const unbounded = await vms.start(scenario([ENDLESS]), { sessionId: 'unbounded.mmulab', maxEvents: null });
    await waitFor(() => vms.status(unbounded.runId).events > 6000);
    vms.control(unbounded.runId, 'stop');
    expect((await vms.waitForEnd(unbounded.runId)).state).toBe('stopped');
    await vms.close();
  });
});

describe('shutdown', () => {
  it('cuts a long keyframe pass short: the session stays valid and keeps the keyframes made', async () => {
    const service = new HostService({ sessionsDir: dir, host: 'browser' });
    const run = await service.call('runs.start', { scenario: { scenario: scenario([ENDLESS]) }, maxEvents: 400_000 });
    const end = await service.vms.waitForEnd(run.runId);
    await service.close();
    const { session, diagnostics } = openSession(join(dir, run.sessionId));
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(session!.eventCount).toBe(end.events);
    // The whole pass makes 24 keyframes; the cut one stops before it starts or at a slice of 50 000 events.
    const full = Math.floor((end.events - 1) / KEYFRAME_EVENTS);
    expect(session!.keyframes.length).toBeLessThan(full);
    expect(session!.verifyKeyframes().problems).toEqual([]);

    // The next host finishes the pass it noted as cut: the same keyframes a whole pass writes.
    expect(JSON.parse(readFileSync(join(dir, PENDING_FILE), 'utf8'))).toContain(run.sessionId);
    const next = new HostService({ sessionsDir: dir, host: 'browser' });
    try {
      expect(existsSync(join(dir, PENDING_FILE))).toBe(false);
      await next.vms.resumeKeyframes(join(dir, run.sessionId));
      const after = openSession(join(dir, run.sessionId)).session!;
      expect(after.keyframes.map((k) => k.applied)).toEqual(Array.from({ length: full }, (_, i) => (i + 1) * KEYFRAME_EVENTS));
      expect(after.verifyKeyframes().problems).toEqual([]);
      expect((await next.call('sessions.open', { id: run.sessionId })).events).toBe(end.events);
    } finally {
      await next.close();
    }
  });
});
