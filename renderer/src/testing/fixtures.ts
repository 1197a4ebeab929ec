/** Small, valid API results for store tests. */
import type { RunStatus, SessionSummary, TimelineResult } from '../api/contract';
import type { SessionEvent } from '../stores/session-store';

export function summary(over: Partial<SessionSummary> = {}): SessionSummary {
  return {
    id: 'run.mmulab',
    name: 'run.mmulab',
    scenarioName: 'demand faults, zap',
    complete: true,
    vms: 1,
    vcpus: [{ vm: 0, vcpu: 0, events: 10, exits: 3 }],
    events: 10,
    startNs: 0,
    endNs: 10_000,
    eventsByType: { vmexit: 3 },
    exitsByReason: { EXCEPTION_NMI: 3 },
    diagnostics: [],
    ...over,
  };
}

export function timeline(exitsPerLane: number[], t0 = 0, t1 = 10_001): TimelineResult {
  return {
    t0,
    t1,
    lanes: exitsPerLane.map((exits, vcpu) => ({
      vm: 0,
      vcpu,
      exits,
      slices: [{ t0: 100, t1: 200, reason: 'EXCEPTION_NMI', handling: 'inject-guest-pf', index: 0, count: exits }],
    })),
  };
}

export function runStatus(over: Partial<RunStatus> = {}): RunStatus {
  return { runId: 'r1', sessionId: 'demand-zap-1.mmulab', state: 'running', events: 0, exits: 0, simNs: 0, ...over };
}

/** Events at t = 0, 10, 20, … (one every 10 ns). */
export function events(from: number, count: number, total: number): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (let i = from; i < Math.min(total, from + count); i++) out.push({ t: i * 10, vm: 0, vcpu: 0, type: i % 3 === 0 ? 'vmexit' : 'guest_access' });
  return out;
}
