import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installFakeApi, type FakeApi } from '../testing/fake-api';
import { runStatus, summary, timeline } from '../testing/fixtures';
import { POLL_MS, useRunStore } from './run-store';
import { useSessionStore } from './session-store';

let fake: FakeApi;
beforeEach(() => (fake = installFakeApi()));
afterEach(() => {
  useRunStore().dehydrate();
  vi.useRealTimers();
  fake.verify();
});

const scenarios = [
  { name: 'demand-zap', title: 'Demand faults (zap)', description: '' },
  { name: 'demand-update', title: 'Demand faults (update)', description: '' },
];

function expectLanding(sessionId: string): void {
  fake.expect('sessions.list', [{ id: sessionId, name: sessionId, sizeBytes: 10, modifiedMs: 1 }]);
  fake.expect('sessions.open', summary({ id: sessionId, name: sessionId }), { params: { id: sessionId } });
  fake.expect('sessions.timeline', timeline([5]), { params: { id: sessionId } });
}

describe('useRunStore', () => {
  it('lists the built-in scenarios and selects the first', async () => {
    fake.expect('scenarios.list', scenarios);
    const store = useRunStore();
    await store.hydrate();
    expect(store.selected).toBe('demand-zap');
    expect(fake.listenerCount('runs.progress')).toBe(1);
  });

  it('records a scenario, follows its progress and opens the session when it finishes', async () => {
    fake.expect('scenarios.list', scenarios);
    fake.expect('runs.start', runStatus(), { params: { scenario: { builtin: 'demand-update' } } });
    const store = useRunStore();
    await store.hydrate();
    store.selected = 'demand-update';
    await store.start();
    expect(store.busy).toBe(true);

    fake.emit('runs.progress', runStatus({ events: 50, exits: 10 }));
    await vi.waitFor(() => expect(store.run?.events).toBe(50));

    expectLanding('demand-zap-1.mmulab');
    fake.emit('runs.progress', runStatus({ state: 'finished', events: 100, exits: 20 }));
    await vi.waitFor(() => expect(useSessionStore().openState).toBe('open'));
    expect(useSessionStore().current?.id).toBe('demand-zap-1.mmulab');
    expect(store.busy).toBe(false);
  });

  it('lands on the session when the run finished before runs.start answered', async () => {
    fake.expect('scenarios.list', scenarios);
    const store = useRunStore();
    await store.hydrate();
    fake.expect('runs.start', () => {
      // The host reports the whole (short) run before its answer to runs.start arrives.
      fake.emit('runs.progress', runStatus({ state: 'finished', events: 9, exits: 3 }));
      return runStatus();
    });
    expectLanding('demand-zap-1.mmulab');
    await store.start('demand-zap');
    expect(store.run?.state).toBe('finished');
    expect(useSessionStore().current?.id).toBe('demand-zap-1.mmulab');
  });

  it('records a scenario file under the default event bound', async () => {
    const scenario = { name: 'endless', vms: [{}] };
    fake.expect('runs.start', runStatus(), { params: { scenario: { scenario } } });
    await useRunStore().startScenario(scenario);
    expect(fake.calls.filter((c) => c.method === 'runs.start').at(-1)?.params).not.toHaveProperty('maxEvents');
  });

  it('records a scenario file without the event bound when asked', async () => {
    const scenario = { name: 'endless', vms: [{}] };
    fake.expect('runs.start', runStatus(), { params: { scenario: { scenario }, maxEvents: null } });
    await useRunStore().startScenario(scenario, { unbounded: true });
  });

  it('shows why a run failed', async () => {
    fake.expect('scenarios.list', scenarios);
    fake.expect('runs.start', runStatus());
    const store = useRunStore();
    await store.hydrate();
    await store.start('demand-zap');
    fake.emit('runs.progress', runStatus({ state: 'failed', message: 'VM 0 crashed: triple fault' }));
    await vi.waitFor(() => expect(store.runError).toBe('VM 0 crashed: triple fault'));
    store.dismiss();
    expect(store.run).toBeUndefined();
  });

  it('keeps a refused start as an error, not a run', async () => {
    fake.expect('scenarios.list', scenarios);
    fake.fail('runs.start', 'bad-request', 'unknown built-in scenario "nope"');
    const store = useRunStore();
    await store.hydrate();
    await store.start('nope');
    expect(store.run).toBeUndefined();
    expect(store.runError).toBe('unknown built-in scenario "nope"');
  });

  it('polls runs.status when progress events stop coming', async () => {
    vi.useFakeTimers();
    fake.expect('scenarios.list', scenarios);
    fake.expect('runs.start', runStatus());
    fake.expect('runs.status', runStatus({ events: 7 }), { params: { runId: 'r1' } });
    const store = useRunStore();
    await store.hydrate();
    await store.start('demand-zap');
    await vi.advanceTimersByTimeAsync(POLL_MS + 10);
    expect(store.run?.events).toBe(7);
    store.dehydrate();
  });
  it('records a scenario loaded from a file, as given', async () => {
    const scenario = { name: 'from a file', vms: [{ guest: { workload: { kind: 'demand-paging' } } }] };
    fake.expect('scenarios.list', scenarios);
    fake.expect('runs.start', runStatus(), { params: { scenario: { scenario } } });
    const store = useRunStore();
    await store.hydrate();
    await store.startScenario(scenario);
    expect(store.run?.state).toBe('running');
  });

  it('pauses, steps, resumes at a speed: each control goes to the current run and its answer is shown', async () => {
    fake.expect('scenarios.list', scenarios);
    fake.expect('runs.start', runStatus());
    fake.expect('runs.control', runStatus({ state: 'paused' }), { params: { runId: 'r1', action: 'pause' } });
    fake.expect('runs.control', runStatus({ state: 'paused', events: 3 }), { params: { runId: 'r1', action: 'stepExit' } });
    fake.expect('runs.setSpeed', runStatus({ state: 'paused', events: 3, speed: 1000 }), { params: { runId: 'r1', nsPerSecond: 1000 } });
    fake.expect('runs.control', runStatus({ state: 'running', events: 3, speed: 1000 }), { params: { runId: 'r1', action: 'resume' } });
    const store = useRunStore();
    await store.hydrate();
    await store.start('demand-zap');
    await store.control('pause');
    expect(store.run?.state).toBe('paused');
    await store.control('stepExit');
    expect(store.run?.events).toBe(3);
    await store.setSpeed(1000);
    await store.control('resume');
    expect(store.run).toMatchObject({ state: 'running', speed: 1000 });
  });

  it('sends no control once the run is over', async () => {
    fake.expect('scenarios.list', scenarios);
    fake.expect('runs.start', runStatus());
    const store = useRunStore();
    await store.hydrate();
    await store.start('demand-zap');
    fake.emit('runs.progress', runStatus({ state: 'failed', message: 'VM 1 failed' }));
    await vi.waitFor(() => expect(store.run?.state).toBe('failed'));
    await store.control('pause');
    await store.setSpeed(null);
    expect(store.run?.state).toBe('failed'); // and the fake saw no runs.control / runs.setSpeed call
  });
  it('follows a run started elsewhere (a dropped scenario file) when none of its own is going on', async () => {
    fake.expect('scenarios.list', scenarios);
    const store = useRunStore();
    await store.hydrate();
    fake.emit('runs.progress', runStatus({ runId: 'r9', events: 4 }));
    await vi.waitFor(() => expect(store.run?.runId).toBe('r9'));
    // Another run showing up meanwhile does not take over.
    fake.emit('runs.progress', runStatus({ runId: 'r10', events: 1 }));
    fake.emit('runs.progress', runStatus({ runId: 'r9', events: 8 }));
    await vi.waitFor(() => expect(store.run?.events).toBe(8));
    expect(store.run?.runId).toBe('r9');
  });
});
