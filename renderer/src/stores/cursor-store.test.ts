import { createPinia, setActivePinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installApiClient } from '../api/api';
import type { ApiParams, SessionSummary } from '../api/contract';
import { FakeApi } from '../testing/fake-api';
import { SCAN, useCursorStore } from './cursor-store';
import { usePlaybackStore } from './playback-store';
import { useSessionStore } from './session-store';

type Ev = { t: number; vm: number; vcpu: number; type: string };

/** A host that pages through `events` the way sessions.events does (with and without `types`). */
function hostOver(events: Ev[]): FakeApi {
  const api = new FakeApi();
  api.expect(
    'sessions.events',
    (p: ApiParams<'sessions.events'>) => {
      const list = p.types ? events.filter((e) => p.types!.includes(e.type)) : events;
      return { total: list.length, events: list.slice(p.from, p.from + p.count) };
    },
    { repeat: true },
  );
  return api;
}

function summary(events: Ev[]): SessionSummary {
  return {
    id: 's.mmulab', name: 's', scenarioName: 's', complete: true, vms: 1, vcpus: [{ vm: 0, vcpu: 0, events: events.length, exits: 0 }],
    events: events.length, startNs: 0, endNs: events[events.length - 1]!.t, eventsByType: {}, exitsByReason: {}, diagnostics: [],
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

let api: FakeApi;
beforeEach(() => setActivePinia(createPinia()));
afterEach(() => api.verify());

/** The stores over a host holding `events`: the session current, played from 0 to its last event's time. */
function openOver(events: Ev[]) {
  api = hostOver(events);
  installApiClient(api);
  const sessions = useSessionStore();
  const playback = usePlaybackStore();
  const cursor = useCursorStore();
  sessions.current = summary(events);
  playback.load(0, events[events.length - 1]!.t);
  return { playback, cursor };
}

describe('useCursorStore', () => {
  it('steps event by event, also through events that share a time', async () => {
    // Events 1 and 2 share t = 10: stepping must visit both, in order.
    const events: Ev[] = [0, 10, 10, 25].map((t, i) => ({ t, vm: 0, vcpu: 0, type: i === 2 ? 'vmexit' : 'gpte_write' }));
    const { playback, cursor } = openOver(events);
    await settle();
    expect(cursor.index).toBe(0);
    for (const want of [1, 2, 3]) {
      await cursor.stepEvent(1);
      await settle();
      expect(cursor.index).toBe(want);
      expect(playback.position).toBe(events[want]!.t);
    }
    await cursor.stepEvent(1); // past the last: stays
    await settle();
    expect(cursor.index).toBe(3);
    await cursor.stepEvent(-1);
    await settle();
    expect(cursor.index).toBe(2);
    // Steps asked for while one is on its way add up: back three at once lands on event 0 (not 1).
    const all = [cursor.stepEvent(-1), cursor.stepEvent(-1), cursor.stepEvent(-1)];
    await Promise.all(all);
    await settle();
    expect(cursor.index).toBe(0);
  });

  it('finds the next and previous exit beyond the scanned neighbourhood by bisection', async () => {
    // SCAN + 500 non-exit events, then one exit, then more: the exit is out of the first scan's reach.
    const n = SCAN * 2 + 1000;
    const exitAt = SCAN + 500;
    const events: Ev[] = Array.from({ length: n }, (_, i) => ({ t: i * 3, vm: 0, vcpu: 0, type: i === exitAt ? 'vmexit' : 'guest_access' }));
    const { cursor } = openOver(events);
    await settle();
    expect(await cursor.nextExit(1)).toBe(true);
    await settle();
    expect(cursor.index).toBe(exitAt);
    expect(await cursor.nextExit(1)).toBe(false);
    await cursor.goToIndex(n - 1);
    await settle();
    expect(cursor.index).toBe(n - 1);
    expect(await cursor.nextExit(-1)).toBe(true);
    await settle();
    expect(cursor.index).toBe(exitAt);
    expect(await cursor.nextFault(1)).toBe(false);
  });
});

describe('useSessionStore.eventsBetween', () => {
  it('returns exactly the events with t0 <= t <= t1, ties at the edges included, or nothing when too many', async () => {
    // Times with ties at both edges of [20, 40].
    const times = [0, 10, 20, 20, 20, 30, 40, 40, 50, ...Array.from({ length: 600 }, (_, i) => 60 + i)];
    const events: Ev[] = times.map((t) => ({ t, vm: 0, vcpu: 0, type: 'guest_access' }));
    api = hostOver(events);
    installApiClient(api);
    const sessions = useSessionStore();
    sessions.current = summary(events);
    const got = await sessions.eventsBetween(20, 40, 100);
    expect(got?.from).toBe(2);
    expect(got?.events.map((e) => e.t)).toEqual([20, 20, 20, 30, 40, 40]);
    expect(await sessions.eventsBetween(0, 1000, 100)).toBeUndefined();
    expect((await sessions.eventsBetween(11, 19, 100))?.events).toEqual([]);
  });
});
