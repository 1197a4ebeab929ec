/**
 * Flow arrows, as Perfetto draws flow events: the current event's causal chain (guest access →
 * #PF exit → guest fault → gpte write → emulation exit → spte write → retried access) linked on
 * the timeline, an arrow from each step to the next, from lane to lane when they are on different
 * ones, a dot at each end. A click on a dot makes that step the current event.
 */
import { timeToX, type TimeScale } from './track';

export interface FlowStep {
  index: number;
  t: number;
  vm: number;
  vcpu: number;
  role: string;
}

/** Where a step is drawn: its time across, the middle of its lane down. */
export interface FlowEnd extends FlowStep {
  x: number;
  y: number;
}

/** Dots closer than this to the pointer are hit. */
export const FLOW_HIT_PX = 6;
/** How far an arrow between two steps of one lane bows up. */
const BOW = 11;

/** The steps' positions; steps on a lane not shown are left out. */
export function flowEnds(steps: readonly FlowStep[], scale: TimeScale, laneMid: (vm: number, vcpu: number) => number | undefined): FlowEnd[] {
  const out: FlowEnd[] = [];
  for (const s of steps) {
    const y = laneMid(s.vm, s.vcpu);
    if (y !== undefined) out.push({ ...s, x: timeToX(scale, s.t), y });
  }
  return out;
}

/**
 * Draw the arrows and dots inside the plot [x0, x1] (the caller clips): each arrow is a cubic
 * curve that bows up between steps of one lane and runs as an S from lane to lane, its head at the
 * later step; the current step's dot is ringed.
 */
export function drawFlows(ctx: CanvasRenderingContext2D, ends: readonly FlowEnd[], current: number, colour: string, ring: string): void {
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = 1.5;
  for (let i = 0; i + 1 < ends.length; i++) {
    const a = ends[i]!;
    const b = ends[i + 1]!;
    const dx = b.x - a.x;
    if (Math.abs(dx) < 3 && Math.abs(b.y - a.y) < 1) continue; // one pixel: the dots say it
    const sameLane = Math.abs(b.y - a.y) < 1;
    const c1x = a.x + dx / 2;
    const c1y = sameLane ? a.y - BOW : a.y;
    const c2x = b.x - dx / 2;
    const c2y = sameLane ? b.y - BOW : b.y;
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.bezierCurveTo(c1x, c1y, c2x, c2y, b.x, b.y);
    ctx.stroke();
    // The head, along the curve's last tangent (from the second control point to the end).
    const angle = Math.atan2(b.y - c2y, b.x - c2x || 1e-9);
    ctx.beginPath();
    ctx.moveTo(b.x, b.y);
    ctx.lineTo(b.x - 7 * Math.cos(angle - 0.45), b.y - 7 * Math.sin(angle - 0.45));
    ctx.lineTo(b.x - 7 * Math.cos(angle + 0.45), b.y - 7 * Math.sin(angle + 0.45));
    ctx.closePath();
    ctx.fill();
  }
  for (const e of ends) {
    ctx.beginPath();
    ctx.arc(e.x, e.y, e.index === current ? 4 : 3, 0, 2 * Math.PI);
    ctx.fillStyle = colour;
    ctx.fill();
    if (e.index === current) {
      ctx.strokeStyle = ring;
      ctx.lineWidth = 2;
      ctx.stroke();
    }
  }
}

/** The step whose dot is under (x, y), the nearest; undefined when none is within FLOW_HIT_PX. */
export function flowEndAt(ends: readonly FlowEnd[], x: number, y: number): FlowEnd | undefined {
  let best: FlowEnd | undefined;
  let bestD = FLOW_HIT_PX;
  for (const e of ends) {
    const d = Math.hypot(e.x - x, e.y - y);
    if (d <= bestD) {
      best = e;
      bestD = d;
    }
  }
  return best;
}
