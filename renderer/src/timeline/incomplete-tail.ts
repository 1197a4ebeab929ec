/**
 * The incomplete tail of a cut recording (issue 18 §5): the header says up to when all lanes and
 * each lane are complete, and the timeline hatches what comes after, where events may be missing.
 * The numbers are the reader's (`SessionSummary.completeness`); this module only words and draws them.
 */
import type { SessionSummary } from '../api/contract';
import { formatNs } from '../format';
import { timeToX, type TimeScale, type TrackArea } from './track';

export type Completeness = NonNullable<SessionSummary['completeness']>;
export type LaneCompleteness = Completeness['lanes'][number];

/** "t = 1.147 ms" in the run's own time (as the ruler counts it), or the lane's start when none of its events is readable. */
export function completeUpTo(lane: Pick<LaneCompleteness, 'events' | 'completeNs'>, startNs: number): string {
  return lane.events > 0 ? `t = ${formatNs(lane.completeNs - startNs)}` : 'its start (no event readable)';
}

export function laneName(lane: { vm: number; vcpu: number }): string {
  return `VM ${lane.vm} · vCPU ${lane.vcpu}`;
}

/** The header's sentences: one for all lanes, then one per lane whose time differs from it. */
export function completenessSentences(c: Completeness, startNs: number): { all: string; lanes: { lane: LaneCompleteness; text: string }[] } {
  return {
    all: `Complete up to t = ${formatNs(c.allLanesNs - startNs)} for all lanes; after that some lanes' events may be missing.`,
    lanes: c.lanes.filter((l) => l.completeNs !== c.allLanesNs || l.events === 0).map((lane) => ({ lane, text: `${laneName(lane)} complete up to ${completeUpTo(lane, startNs)}` })),
  };
}

export const INCOMPLETE_LEGEND = 'Hatched: the recording was cut; events there may be missing';

// One small pattern tile per colour, made once: filling a rectangle with it costs what a plain fill does.
const patterns = new Map<string, CanvasPattern | null>();
function hatch(ctx: CanvasRenderingContext2D, color: string): CanvasPattern | null {
  let p = patterns.get(color);
  if (p !== undefined) return p;
  const tile = document.createElement('canvas');
  tile.width = tile.height = 8;
  const t = tile.getContext('2d');
  if (t) {
    t.strokeStyle = color;
    t.lineWidth = 1.5;
    t.beginPath();
    // a diagonal, wrapped at the corners so the tiles join into continuous stripes
    t.moveTo(0, 8);
    t.lineTo(8, 0);
    t.moveTo(-2, 2);
    t.lineTo(2, -2);
    t.moveTo(6, 10);
    t.lineTo(10, 6);
    t.stroke();
  }
  p = ctx.createPattern(tile, 'repeat');
  patterns.set(color, p);
  return p;
}

/** Hatch `area` from time `fromNs` to its right edge (nothing when that is off to the right). */
export function drawIncompleteTail(ctx: CanvasRenderingContext2D, area: TrackArea, scale: TimeScale, fromNs: number, color: string): void {
  const x0 = Math.max(area.x, timeToX(scale, fromNs));
  const x1 = area.x + area.width;
  if (!(x1 > x0)) return;
  const p = hatch(ctx, color);
  if (!p) return;
  ctx.save();
  ctx.globalAlpha = 0.55;
  ctx.fillStyle = p;
  ctx.fillRect(x0, area.y, x1 - x0, area.height);
  ctx.restore();
}
