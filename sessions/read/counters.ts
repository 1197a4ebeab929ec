/** Counts over a session or a time range: whole chunks from their statistics, partial ones decoded. */
import type { LaneIndex } from './laneIndex.ts';
import { rangeSplit } from './exitSplit.ts';
import type { Summaries } from './summaries.ts';
import { inc, ownValue, tally, type Counters, type VcpuCounts, type VcpuRangeCounts, type WholeCounts } from './model.ts';

/**
 * Counters over events with t0 <= t <= t1: whole summary bins inside the range from the session's
 * summaries when it has them, else whole chunks from their statistics; partial ones decoded.
 */
export function counters(ix: LaneIndex, t0 = 0, t1 = Number.MAX_SAFE_INTEGER, sums?: Summaries): Counters {
  const out: Counters = {
    t0,
    t1,
    events: 0,
    walkRefs: 0,
    eventsByType: tally(),
    exitsByReason: tally(),
    exitsByHandling: tally(),
    exitNsByReason: tally(),
    exitMinNsByReason: tally(),
    exitMaxNsByReason: tally(),
    vcpus: [],
  };
  const exit = (reason: string, handling: string | undefined, n: number, ns: number, min: number, max: number) => {
    inc(out.exitsByReason, reason, n);
    if (handling !== undefined) inc(out.exitsByHandling, handling, n);
    inc(out.exitNsByReason, reason, ns);
    const mn = ownValue(out.exitMinNsByReason, reason);
    if (mn === undefined || min < mn) out.exitMinNsByReason[reason] = min;
    if (max > (ownValue(out.exitMaxNsByReason, reason) ?? -1)) out.exitMaxNsByReason[reason] = max;
  };
  for (const lane of ix.lanes) {
    const v: VcpuRangeCounts = { vm: lane.vm, vcpu: lane.vcpu, events: 0, exits: 0, walkRefs: 0 };
    const w = sums && t1 - t0 < Number.MAX_SAFE_INTEGER / 2 ? rangeSplit(sums, lane, t0, t1) : undefined;
    const s = w?.summary;
    if (w && s) {
      const lv = s.level;
      for (let b = s.binFrom; b < s.binTo; b++) {
        for (let j = lv.typeStart[b]!; j < lv.typeStart[b + 1]!; j++) inc(out.eventsByType, s.types[lv.typeId[j]!]!, lv.typeN[j]!);
        v.events += lv.events[b]!;
        v.exits += lv.exits[b]!;
        for (let j = lv.reasonStart[b]!; j < lv.reasonStart[b + 1]!; j++) exit(s.strings[lv.reasonId[j]!]!, undefined, lv.reasonN[j]!, lv.reasonNs[j]!, lv.reasonMin[j]!, lv.reasonMax[j]!);
        for (let j = lv.handlingStart[b]!; j < lv.handlingStart[b + 1]!; j++) inc(out.exitsByHandling, s.strings[lv.handlingId[j]!]!, lv.handlingN[j]!);
      }
      // the ends: every event outside the summarised part; page walks' references of partial chunks
      for (const ch of w.decode) {
        const partial = ch.tMin < t0 || ch.tMax > t1;
        for (const e of ix.decodeChunk(ch)) {
          if (e.t < t0 || e.t > t1) continue;
          if (e.type === 'page_walk' && partial) v.walkRefs += e.refs;
          if (e.t >= w.innerT0 && e.t < w.innerT1) continue;
          inc(out.eventsByType, e.type);
          v.events++;
          if (e.type === 'vmexit') {
            v.exits++;
            exit(e.reason, e.handling, 1, e.duration, e.duration, e.duration);
          }
        }
      }
      // references of the chunks wholly in the range: their own totals
      for (const ch of w.all()) if (ch.tMin >= t0 && ch.tMax <= t1 && !ch.bad) v.walkRefs += ix.store.chunkWalkRefs(ch);
      out.events += v.events;
      out.walkRefs += v.walkRefs;
      out.vcpus.push(v);
      continue;
    }
    for (const ch of lane.chunks) {
      if (ch.tMax < t0 || ch.tMin > t1) continue;
      if (ch.tMin >= t0 && ch.tMax <= t1) {
        const st = ix.store.chunkStats(ch);
        if (ch.bad) continue;
        for (const [k, n] of Object.entries(st.types)) inc(out.eventsByType, k, n);
        v.events += ch.count;
        for (const [reason, n] of Object.entries(st.exits)) {
          const ns = ownValue(st.exitNs, reason) ?? [0, 0, 0];
          exit(reason, undefined, n, ns[0], ns[1], ns[2]);
          v.exits += n;
        }
        for (const [h, n] of Object.entries(st.handlings)) inc(out.exitsByHandling, h, n);
        v.walkRefs += ix.store.chunkWalkRefs(ch);
        continue;
      }
      for (const e of ix.decodeChunk(ch)) {
        if (e.t < t0 || e.t > t1) continue;
        inc(out.eventsByType, e.type);
        v.events++;
        if (e.type === 'vmexit') {
          v.exits++;
          exit(e.reason, e.handling, 1, e.duration, e.duration, e.duration);
        } else if (e.type === 'page_walk') v.walkRefs += e.refs;
      }
    }
    out.events += v.events;
    out.walkRefs += v.walkRefs;
    out.vcpus.push(v);
  }
  return out;
}

/**
 * Per-vCPU events and exits, and events by type and exits by reason, of the whole session: from
 * each lane's summaries when the file has them (a few numbers per lane), else from the index's
 * per-chunk statistics.
 */
export function wholeCounts(ix: LaneIndex, sums?: Summaries): WholeCounts {
  const eventsByType = tally();
  const exitsByReason = tally();
  const vcpus: VcpuCounts[] = [];
  for (const lane of ix.lanes) {
    let exits = 0;
    const whole = sums?.wholeLane(lane);
    if (whole) {
      for (const [k, v] of whole.types) inc(eventsByType, k, v);
      for (const [k, v] of whole.exits) {
        inc(exitsByReason, k, v);
        exits += v;
      }
      vcpus.push({ vm: lane.vm, vcpu: lane.vcpu, events: lane.count, exits });
      continue;
    }
    for (const ch of lane.chunks) {
      const s = ix.chunkStats(ch);
      for (const [k, v] of Object.entries(s.types)) inc(eventsByType, k, v);
      for (const [k, v] of Object.entries(s.exits)) {
        inc(exitsByReason, k, v);
        exits += v;
      }
    }
    vcpus.push({ vm: lane.vm, vcpu: lane.vcpu, events: lane.count, exits });
  }
  return { vcpus, eventsByType, exitsByReason };
}
