import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { RUN_SECONDS, STEPS, usePlaybackStore } from './playback-store';

beforeEach(() => setActivePinia(createPinia()));

describe('usePlaybackStore', () => {
  it('loads a run paused at its start', () => {
    const store = usePlaybackStore();
    store.load(1000, 11_000);
    expect(store.position).toBe(1000);
    expect(store.playing).toBe(false);
    expect(store.stepNs).toBe(10_000 / STEPS);
  });

  it('plays the whole run in RUN_SECONDS at speed 1 and stops at the end', () => {
    const store = usePlaybackStore();
    store.load(0, 20_000);
    store.play();
    store.tick((RUN_SECONDS * 1000) / 2);
    expect(store.position).toBe(10_000);
    store.tick(RUN_SECONDS * 1000);
    expect(store.position).toBe(20_000);
    expect(store.playing).toBe(false);
    // Playing again from the end starts over.
    store.play();
    expect(store.position).toBe(0);
  });

  it('does not move while paused, and speed scales playback', () => {
    const store = usePlaybackStore();
    store.load(0, 20_000);
    store.tick(1000);
    expect(store.position).toBe(0);
    store.setSpeed(2);
    store.toggle();
    store.tick(1000);
    expect(store.position).toBe(2000);
    store.toggle();
    expect(store.playing).toBe(false);
  });

  it('clamps seeks and steps to the run', () => {
    const store = usePlaybackStore();
    store.load(100, 600);
    store.seek(50);
    expect(store.position).toBe(100);
    store.step(1);
    expect(store.position).toBe(101);
    store.seek(10_000);
    expect(store.position).toBe(600);
    store.step(-10);
    expect(store.position).toBe(590);
  });

  it('will not play an empty run', () => {
    const store = usePlaybackStore();
    store.load(5, 5);
    store.play();
    expect(store.playing).toBe(false);
  });
});
