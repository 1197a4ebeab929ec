/**
 * Playback of the open session: a position in simulated time between the run's start and
 * end, and a play/pause state that advances it. By default a whole run plays in
 * `RUN_SECONDS` seconds of wall time at speed 1, whatever its simulated length.
 *
 * The animation is driven by `requestAnimationFrame` when there is one; `tick(ms)` is the one
 * place time moves, so tests drive it directly.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';

export const RUN_SECONDS = 20;
/** The slider and the arrow keys move the position by 1/STEPS of the run. */
export const STEPS = 500;

export const usePlaybackStore = defineStore('playback', () => {
  const startNs = ref(0);
  const endNs = ref(0);
  const position = ref(0);
  const playing = ref(false);
  const speed = ref(1);

  const durationNs = computed(() => Math.max(0, endNs.value - startNs.value));
  /** Simulated ns per slider/arrow step (at least 1 ns). */
  const stepNs = computed(() => Math.max(1, Math.round(durationNs.value / STEPS)));
  const atEnd = computed(() => position.value >= endNs.value);

  let frame: number | undefined;
  let lastFrameMs: number | undefined;

  function clamp(t: number): number {
    return Math.min(endNs.value, Math.max(startNs.value, t));
  }

  /** Take a new run to play: position at its start, paused. */
  function load(start: number, end: number): void {
    pause();
    startNs.value = start;
    endNs.value = Math.max(start, end);
    position.value = start;
  }

  function reset(): void {
    load(0, 0);
  }

  function seek(t: number): void {
    position.value = clamp(t);
  }

  function step(steps: number): void {
    seek(position.value + steps * stepNs.value);
  }

  /** Advance by `wallMs` of wall time; stops at the end of the run. */
  function tick(wallMs: number): void {
    if (!playing.value) return;
    const nsPerMs = (durationNs.value / (RUN_SECONDS * 1000)) * speed.value;
    position.value = clamp(position.value + Math.max(0, wallMs) * nsPerMs);
    if (atEnd.value) pause();
  }

  function play(): void {
    if (durationNs.value <= 0) return;
    if (atEnd.value) position.value = startNs.value;
    playing.value = true;
    startAnimation();
  }

  function pause(): void {
    playing.value = false;
    stopAnimation();
  }

  function toggle(): void {
    if (playing.value) pause();
    else play();
  }

  function setSpeed(value: number): void {
    speed.value = Math.min(64, Math.max(1 / 16, value));
  }

  function startAnimation(): void {
    if (typeof requestAnimationFrame !== 'function' || frame !== undefined) return;
    lastFrameMs = undefined;
    const onFrame = (now: number) => {
      frame = undefined;
      if (!playing.value) return;
      if (lastFrameMs !== undefined) tick(Math.min(100, now - lastFrameMs));
      lastFrameMs = now;
      if (playing.value) frame = requestAnimationFrame(onFrame);
    };
    frame = requestAnimationFrame(onFrame);
  }

  function stopAnimation(): void {
    if (frame !== undefined && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(frame);
    frame = undefined;
  }

  return { startNs, endNs, position, playing, speed, durationNs, stepNs, atEnd, load, reset, seek, step, tick, play, pause, toggle, setSpeed };
});
