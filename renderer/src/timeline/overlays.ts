/**
 * What the timeline draws around and over its lanes: the time ruler with its grid, and over the
 * lanes the notes' marks on the ruler, the selected range, markers A and B. The plot runs from
 * `scale.x0` over `scale.width`; `ruler` is the ruler's height, `height` the canvas's.
 */
import { drawIncompleteTail } from './incomplete-tail';
import { formatTick, niceStep } from './sim-time';
import { timeToX, type TimeScale, type TrackTheme } from './track';

interface Frame {
  ruler: number;
  height: number;
}

/** Ticks every "nice" step with their time from the run's start, the grid lines down the lanes; hatched from where a cut recording is incomplete. */
export function drawRuler(ctx: CanvasRenderingContext2D, s: TimeScale, f: Frame & { startNs: number; incompleteFrom: number | undefined }, theme: TrackTheme): void {
  const step = niceStep(s.t1 - s.t0, Math.max(2, Math.floor(s.width / 110)));
  const first = Math.ceil(s.t0 / step) * step;
  ctx.strokeStyle = theme.grid;
  ctx.fillStyle = theme.muted;
  ctx.lineWidth = 1;
  for (let t = first; t <= s.t1; t += step) {
    const x = Math.round(timeToX(s, t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, f.ruler - 6);
    ctx.lineTo(x, f.height);
    ctx.stroke();
    ctx.fillText(formatTick(t - f.startNs, step), x + 3, f.ruler / 2 - 2);
  }
  // A cut recording: the ruler is hatched from where not all lanes are complete, across the whole width.
  if (f.incompleteFrom !== undefined) drawIncompleteTail(ctx, { x: s.x0, y: f.ruler - 6, width: s.width, height: 6 }, s, f.incompleteFrom, theme.muted);
  ctx.beginPath();
  ctx.moveTo(s.x0, f.ruler - 0.5);
  ctx.lineTo(s.x0 + s.width, f.ruler - 0.5);
  ctx.stroke();
}

export function drawOverlays(
  ctx: CanvasRenderingContext2D,
  s: TimeScale,
  f: Frame & {
    notes: readonly { t: number; kind: 'note' | 'bookmark' }[];
    selection: { t0: number; t1: number } | undefined;
    markers: readonly (readonly [string, number | undefined])[];
  },
  theme: TrackTheme,
): void {
  const { ruler, height: h } = f;
  const left = s.x0;
  const right = s.x0 + s.width;
  // Notes and bookmarks: marks on the ruler.
  for (const note of f.notes) {
    const x = timeToX(s, note.t);
    if (x < left - 4 || x > right + 4) continue;
    ctx.fillStyle = note.kind === 'bookmark' ? theme.accent : theme.note;
    ctx.beginPath();
    ctx.moveTo(x - 5, ruler - 12);
    ctx.lineTo(x + 5, ruler - 12);
    ctx.lineTo(x, ruler - 3);
    ctx.closePath();
    ctx.fill();
  }

  // The selected range, shaded over all lanes.
  const sel = f.selection;
  if (sel) {
    const x0 = Math.max(left, timeToX(s, sel.t0));
    const x1 = Math.min(right, timeToX(s, sel.t1));
    if (x1 > x0 - 1) {
      ctx.fillStyle = theme.selection;
      ctx.fillRect(x0, ruler, Math.max(1, x1 - x0), h - ruler);
      ctx.strokeStyle = theme.accent;
      ctx.lineWidth = 1;
      ctx.strokeRect(Math.round(x0) + 0.5, ruler + 0.5, Math.max(1, Math.round(x1 - x0) - 1), h - ruler - 1);
    }
  }

  // Markers A and B: dashed lines with their letter on the ruler.
  for (const [letter, t] of f.markers) {
    if (t === undefined) continue;
    const x = timeToX(s, t);
    if (x < left - 1 || x > right + 1) continue;
    ctx.strokeStyle = theme.accent;
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(Math.round(x) + 0.5, ruler);
    ctx.lineTo(Math.round(x) + 0.5, h);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = theme.accent;
    ctx.fillText(letter, x + 3, ruler - 8);
  }
}
