import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installFakeApi, type FakeApi } from '../testing/fake-api';
import { events, summary, timeline } from '../testing/fixtures';
import { LOCATE_PAGE, useSessionStore } from './session-store';

let fake: FakeApi;
beforeEach(() => (fake = installFakeApi()));
afterEach(() => fake.verify());

describe('useSessionStore', () => {
  it('lists the sessions newest first', async () => {
    fake.expect('sessions.list', [
      { id: 'old.mmulab', name: 'old.mmulab', sizeBytes: 1, modifiedMs: 1 },
      { id: 'new.mmulab', name: 'new.mmulab', sizeBytes: 1, modifiedMs: 2 },
    ]);
    const store = useSessionStore();
    await store.refreshList();
    expect(store.listState).toBe('ready');
    expect(store.list.map((s) => s.id)).toEqual(['new.mmulab', 'old.mmulab']);
  });

  it('keeps the listing error as state, for the sidebar to show with a retry', async () => {
    fake.fail('sessions.list', 'failed', 'disk on fire');
    const store = useSessionStore();
    await store.refreshList();
    expect(store.listState).toBe('error');
    expect(store.listError).toBe('disk on fire');
  });

  it('opens a session: summary, then the whole-run timeline; the exit count is the sum of the lanes', async () => {
    fake.expect('sessions.open', summary({ endNs: 5000 }), { params: { id: 'run.mmulab' } });
    fake.expect('sessions.timeline', timeline([3, 4]), { params: { id: 'run.mmulab', t0: 0, t1: 5001 } });
    const store = useSessionStore();
    expect(await store.open('run.mmulab')).toBe(true);
    expect(store.openState).toBe('open');
    expect(store.exitCount).toBe(7);
    expect(store.durationNs).toBe(5000);
  });

  it('turns a failed open into an error state with the message', async () => {
    fake.fail('sessions.open', 'bad-session', 'not an MMU Lab session');
    const store = useSessionStore();
    expect(await store.open('broken.mmulab')).toBe(false);
    expect(store.openState).toBe('error');
    expect(store.openError).toBe('not an MMU Lab session');
    expect(store.current).toBeUndefined();
    store.close();
    expect(store.openState).toBe('none');
  });

  it('lets the later of two opens win', async () => {
    let releaseFirst: () => void = () => {};
    fake.expect('sessions.open', () => new Promise((resolve) => (releaseFirst = () => resolve(summary({ id: 'a.mmulab', name: 'a.mmulab' })))), { params: { id: 'a.mmulab' } });
    fake.expect('sessions.timeline', timeline([1]), { params: { id: 'a.mmulab' } });
    fake.expect('sessions.open', summary({ id: 'b.mmulab', name: 'b.mmulab' }), { params: { id: 'b.mmulab' } });
    fake.expect('sessions.timeline', timeline([2]), { params: { id: 'b.mmulab' } });
    const store = useSessionStore();
    const first = store.open('a.mmulab');
    await store.open('b.mmulab');
    releaseFirst();
    expect(await first).toBe(false);
    expect(store.current?.id).toBe('b.mmulab');
    expect(store.exitCount).toBe(2);
  });

  it('finds the events around a time by bisection over pages', async () => {
    const total = 10_000;
    fake.expect('sessions.open', summary({ events: total, endNs: total * 10 }));
    fake.expect('sessions.timeline', timeline([1]));
    fake.expect('sessions.events', ({ from, count }) => ({ total, events: events(from, count, total) }), { repeat: true });
    const store = useSessionStore();
    await store.open('run.mmulab');
    const page = await store.eventsAt(73_215);
    const focused = page.events[page.focus];
    expect(focused?.t).toBe(73_210);
    expect(page.from + page.focus).toBe(7321);
    // A few pages, not a walk over the whole session.
    expect(fake.calls.filter((c) => c.method === 'sessions.events').length).toBeLessThanOrEqual(Math.ceil(Math.log2(total / LOCATE_PAGE)) + 2);
  });

  it('refreshes the list when the host says the sessions changed, until dehydrated', async () => {
    fake.expect('sessions.list', [], { repeat: true });
    const store = useSessionStore();
    await store.hydrate();
    expect(fake.listenerCount('sessions.changed')).toBe(1);
    fake.emit('sessions.changed', {});
    await Promise.resolve();
    expect(fake.calls.filter((c) => c.method === 'sessions.list')).toHaveLength(2);
    store.dehydrate();
    expect(fake.listenerCount('sessions.changed')).toBe(0);
  });
});
