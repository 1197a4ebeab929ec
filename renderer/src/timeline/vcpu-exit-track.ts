/**
 * One vCPU's lane: guest execution as a band over the run, each vmexit (or each group of
 * exits merged into one pixel by the host) as a bar coloured by its reason.
 */
import type { TimelineResult } from '../api/contract';
import { exitColor, typeColor } from './exit-colors';
import { formatCount, formatNs } from '../format';
import { drawIncompleteTail } from './incomplete-tail';
import { timeToX, xToTime, trackUri, type TimeScale, type TimelineTrack, type TrackArea, type TrackHit, type TrackTheme } from './track';

export type Lane = TimelineResult['lanes'][number];
export type Slice = Lane['slices'][number];

/** What a lane marks besides exits, when zoomed in far enough to load the events. */
export interface LaneMarkers {
  /** Times of #PFs delivered to the guest. */
  faults: number[];
  /** Times of TLB flushes. */
  flushes: number[];
  /** Lock waits as [start, duration]. */
  waits: [number, number][];
}

export class VcpuExitTrack implements TimelineTrack {
  readonly uri: string;
  readonly title: string;
  readonly height = 30;
  private lane: Lane | undefined;
  /** Only for a cut recording: the time this lane is complete to (after it, hatched: events may be missing). */
  completeNs: number | undefined = undefined;
  /** Which exits are drawn: the legend's hidden reasons and the breakdown's filter decide. */
  shows: (reason: string, handling: string) => boolean = () => true;

  constructor(
    readonly vm: number,
    readonly vcpu: number,
    private readonly run: { startNs: number; endNs: number },
  ) {
    this.uri = trackUri('vcpu', vm, vcpu);
    this.title = `VM ${vm} · vCPU ${vcpu}`;
  }

  private markers: LaneMarkers | undefined;
  /** Every event of the lane per bucket and type (all events, not only exits), when loaded for this view. */
  private density: { t0: number; t1: number; buckets: number; types: string[]; counts: number[][]; max: number } | undefined;

  setDensity(d: { t0: number; t1: number; buckets: number; types: string[]; counts: number[][] } | undefined): void {
    if (!d) {
      this.density = undefined;
      return;
    }
    let max = 0;
    for (let b = 0; b < d.buckets; b++) {
      let n = 0;
      for (const row of d.counts) n += row[b] ?? 0;
      if (n > max) max = n;
    }
    this.density = { ...d, max };
  }

  setMarkers(markers: LaneMarkers | undefined): void {
    this.markers = markers;
  }

  /** The timeline view loads all lanes in one query and hands each track its own. */
  setLane(lane: Lane | undefined): void {
    this.lane = lane;
  }

  render(ctx: CanvasRenderingContext2D, area: TrackArea, scale: TimeScale, theme: TrackTheme): void {
    ctx.fillStyle = theme.laneBg;
    ctx.fillRect(area.x, area.y, area.width, area.height);
    // Guest execution: the whole run, as a thin band under the exits.
    const gx0 = Math.max(area.x, timeToX(scale, this.run.startNs));
    const gx1 = Math.min(area.x + area.width, timeToX(scale, this.run.endNs));
    if (gx1 > gx0) {
      ctx.fillStyle = theme.guest;
      ctx.fillRect(gx0, area.y + area.height / 2 - 2, gx1 - gx0, 4);
    }
    // Every event, as a density along the bottom of the lane: height by count (log), colour by the
    // bucket's most frequent type. A lane without exits still shows where its events are.
    const d = this.density;
    if (d && d.max > 0) {
      const bw = (d.t1 - d.t0) / d.buckets;
      const hMax = area.height / 2 - 2;
      const scaleH = Math.log1p(d.max);
      for (let b = 0; b < d.buckets; b++) {
        let n = 0;
        let top = -1;
        let topN = 0;
        for (let k = 0; k < d.counts.length; k++) {
          const c = d.counts[k]![b] ?? 0;
          n += c;
          if (c > topN) [top, topN] = [k, c];
        }
        if (n === 0) continue;
        const x0 = timeToX(scale, d.t0 + b * bw);
        const x1 = timeToX(scale, d.t0 + (b + 1) * bw);
        if (x1 < area.x || x0 > area.x + area.width) continue;
        const h = Math.max(2, (Math.log1p(n) / scaleH) * hMax);
        ctx.fillStyle = typeColor(d.types[top]!);
        ctx.fillRect(Math.max(area.x, x0), area.y + area.height - h, Math.max(1, Math.min(area.x + area.width, x1) - Math.max(area.x, x0)), h);
      }
    }
    for (const slice of this.lane?.slices ?? []) {
      if (!this.shows(slice.reason, slice.handling)) continue;
      const x0 = timeToX(scale, slice.t0);
      const x1 = timeToX(scale, slice.t1);
      if (x1 < area.x || x0 > area.x + area.width) continue;
      const left = Math.max(area.x, x0);
      const width = Math.max(1, Math.min(area.x + area.width, x1) - left);
      ctx.fillStyle = exitColor(slice.reason);
      ctx.fillRect(left, area.y + 3, width, area.height - 6);
      // a merged slice from the summaries (index -1) is selected when its first exit is the selected one
      if (this.selectedIndex >= 0 && (slice.index >= 0 ? slice.index === this.selectedIndex : slice.t0 === this.selectedT)) {
        ctx.strokeStyle = theme.text;
        ctx.lineWidth = 2;
        ctx.strokeRect(left - 2, area.y + 1, width + 4, area.height - 2);
      }
    }
    this.renderMarkers(ctx, area, scale, theme);
    if (this.completeNs !== undefined) drawIncompleteTail(ctx, area, scale, this.completeNs, theme.muted);
  }

  private renderMarkers(ctx: CanvasRenderingContext2D, area: TrackArea, scale: TimeScale, theme: TrackTheme): void {
    const m = this.markers;
    if (!m) return;
    const inside = (x: number) => x >= area.x - 4 && x <= area.x + area.width + 4;
    // Lock waits: a grey band along the bottom of the lane.
    ctx.fillStyle = theme.muted;
    for (const [t, d] of m.waits) {
      const x0 = Math.max(area.x, timeToX(scale, t));
      const x1 = Math.min(area.x + area.width, timeToX(scale, t + d));
      if (x1 >= area.x && x0 <= area.x + area.width) ctx.fillRect(x0, area.y + area.height - 4, Math.max(1, x1 - x0), 3);
    }
    // TLB flushes: a thin purple tick through the lane.
    ctx.fillStyle = '#9c36b5';
    for (const t of m.flushes) {
      const x = timeToX(scale, t);
      if (inside(x)) ctx.fillRect(Math.round(x), area.y, 2, area.height);
    }
    // Guest faults: a red triangle pointing down at the top of the lane.
    ctx.fillStyle = theme.cursor;
    for (const t of m.faults) {
      const x = timeToX(scale, t);
      if (!inside(x)) continue;
      ctx.beginPath();
      ctx.moveTo(x - 4, area.y);
      ctx.lineTo(x + 4, area.y);
      ctx.lineTo(x, area.y + 6);
      ctx.closePath();
      ctx.fill();
    }
  }

  /** The canonical index of the selected exit, outlined on its lane (-1: none). */
  selectedIndex = -1;
  /** The selected exit's time (matches a merged slice that has no index). */
  selectedT: number | undefined = undefined;

  hitTest(x: number, scale: TimeScale): TrackHit | undefined {
    const best = this.sliceAt(x, scale);
    if (!best) {
      if (this.completeNs === undefined || x < timeToX(scale, this.completeNs)) return undefined;
      return { t: xToTime(scale, x), label: `incomplete after ${formatNs(this.completeNs - this.run.startNs)}: the recording was cut, events may be missing` };
    }
    const what = best.count > 1 ? `${formatCount(best.count, 'exit')}, mostly ${best.reason}` : `${best.reason} → ${best.handling}`;
    return { t: best.t0, label: `${what} at ${formatNs(best.t0 - this.run.startNs)} (${formatNs(best.t1 - best.t0)})` };
  }

  /** The slice of this lane under (or within 4 px of) `x`, the nearest one; undefined when none. */
  sliceAt(x: number, scale: TimeScale): Slice | undefined {
    let best: Slice | undefined;
    let bestDistance = 4;
    for (const slice of this.lane?.slices ?? []) {
      if (!this.shows(slice.reason, slice.handling)) continue;
      const x0 = timeToX(scale, slice.t0);
      const x1 = Math.max(x0 + 1, timeToX(scale, slice.t1));
      const distance = x < x0 ? x0 - x : x > x1 ? x - x1 : 0;
      if (distance < bestDistance) {
        best = slice;
        bestDistance = distance;
      }
    }
    return best;
  }
}
