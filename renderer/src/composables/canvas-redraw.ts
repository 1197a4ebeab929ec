/**
 * The redraws of a canvas: at most one per animation frame however often they are asked for,
 * one more when the system's colour scheme changes (a canvas reads its colours from CSS when it
 * draws), the first on mount, and none after unmount.
 */
import { onBeforeUnmount, onMounted } from 'vue';

/** Returns `schedule`, which asks for a redraw (`draw` runs at the next animation frame). */
export function useCanvasRedraw(draw: () => void): () => void {
  let frame: number | undefined;
  let media: MediaQueryList | undefined;

  function schedule(): void {
    if (frame !== undefined) return;
    frame = requestAnimationFrame(() => {
      frame = undefined;
      draw();
    });
  }

  onMounted(() => {
    media = window.matchMedia('(prefers-color-scheme: dark)');
    media.addEventListener('change', schedule);
    schedule();
  });
  onBeforeUnmount(() => {
    media?.removeEventListener('change', schedule);
    if (frame !== undefined) cancelAnimationFrame(frame);
  });
  return schedule;
}
