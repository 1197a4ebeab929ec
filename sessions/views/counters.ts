/**
 * `perf kvm stat`-like counters over a range of simulated time: exits by reason and handling
 * with count, total, least and greatest time, from the summaries where whole bins fit.
 */
import type { SessionReader } from '../reader.ts';
import { runSteps, runStepsYielding, type StepOptions, type Steps } from './steps.ts';

export interface ExitStat {
  key: string;
  count: number;
  totalNs: number;
  minNs: number;
  avgNs: number;
  maxNs: number;
}

export interface CountersView {
  t0: number;
  t1: number;
  events: number;
  eventsByType: Record<string, number>;
  exits: number;
  exitNs: number;
  /** Memory references of the TLB-miss walks (sum of page_walk `refs`), in all and per vCPU. */
  walkRefs: number;
  byReason: ExitStat[];
  byHandling: ExitStat[];
  /** Each vCPU's exits by reason and by handling (a VM's rows are the merge of its vCPUs'). */
  byVcpu: { vm: number; vcpu: number; events: number; exits: number; exitNs: number; walkRefs: number; byReason: ExitStat[]; byHandling: ExitStat[] }[];

}

class StatTable {
  private readonly rows = new Map<string, { count: number; total: number; min: number; max: number }>();
  add(key: string, ns: number): void {
    const r = this.rows.get(key);
    if (!r) this.rows.set(key, { count: 1, total: ns, min: ns, max: ns });
    else {
      r.count++;
      r.total += ns;
      if (ns < r.min) r.min = ns;
      if (ns > r.max) r.max = ns;
    }
  }
  addMany(key: string, count: number, total: number, min: number, max: number): void {
    const r = this.rows.get(key);
    if (!r) this.rows.set(key, { count, total, min, max });
    else {
      r.count += count;
      r.total += total;
      r.min = Math.min(r.min, min);
      r.max = Math.max(r.max, max);
    }
  }
  list(): ExitStat[] {
    return [...this.rows]
      .map(([key, r]) => ({ key, count: r.count, totalNs: r.total, minNs: r.min, avgNs: r.count ? r.total / r.count : 0, maxNs: r.max }))
      .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
  }
}

/**
 * Exits with t0 <= t <= t1 by reason, by handling and by vCPU (each vCPU again by reason and by
 * handling), each with count and total, min, average and max time. One pass over the chunks'
 * exit columns (decoded and cached by the reader) fills every table at once.
 */
export function countersView(session: SessionReader, t0: number, t1: number): CountersView {
  return runSteps(countersSteps(session, t0, t1));
}

/** `countersView` for a host that must keep answering: it yields to the event loop every 4 chunks it decodes (about 16 000 events). */
export function countersViewAsync(session: SessionReader, t0: number, t1: number, options: StepOptions = {}): Promise<CountersView> {
  return runStepsYielding(countersSteps(session, t0, t1), options);
}

const COUNTERS_SLICE_CHUNKS = 4;

/** The share of a query's progress its summaries' build takes, when it has to build them (most of its time). */
const BUILD_SHARE = 0.9;

function* countersSteps(session: SessionReader, t0: number, t1: number): Steps<CountersView> {
  let decoded = 0;
  let share = 0;
  // a file without summaries builds them first, in steps (else exitSplit would, in one go)
  for (const f of session.buildSummaries(t0, t1)) {
    share = BUILD_SHARE;
    yield (f ?? 0) * share;
  }
  // whole summary bins inside the range are counted from the session's summaries; only the
  // chunks at the range's ends are decoded (all of them for a file without summaries)
  const splits = session.lanes.map((_, li) => session.exitSplit(li, t0, t1));
  const inRange = splits.reduce((n, s) => n + s.decode.length, 0);
  const byReason = new StatTable();
  const byHandling = new StatTable();
  const counts = session.counters(t0, t1);
  const out: CountersView = { t0, t1, events: 0, eventsByType: counts.eventsByType, exits: 0, exitNs: 0, walkRefs: counts.walkRefs, byReason: [], byHandling: [], byVcpu: [] };
  for (const [li, lane] of session.lanes.entries()) {
    const mine = new StatTable();
    const mineByHandling = new StatTable();
    // events in the range: the reader's count; exits with their times: the exit columns
    const events = counts.vcpus[li]?.events ?? 0;
    let exits = 0;
    let exitNs = 0;
    const split = splits[li]!;
    for (const [reason, x] of split.reasons) {
      byReason.addMany(reason, x.n, x.ns, x.min, x.max);
      mine.addMany(reason, x.n, x.ns, x.min, x.max);
      exits += x.n;
      exitNs += x.ns;
    }
    for (const [handling, x] of split.handlings) {
      byHandling.addMany(handling, x.n, x.ns, x.min, x.max);
      mineByHandling.addMany(handling, x.n, x.ns, x.min, x.max);
    }
    for (const ch of split.decode) {
      if (ch.tMax < t0 || ch.tMin > t1) continue;
      if (++decoded % COUNTERS_SLICE_CHUNKS === 0) yield share + ((1 - share) * decoded) / Math.max(1, inRange);
      const cols = session.columns(ch);
      for (let k = 0; k < cols.exitAt.length; k++) {
        const t = cols.times[cols.exitAt[k]!]!;
        if (t < t0 || t > t1 || (t >= split.innerT0 && t < split.innerT1)) continue;
        const ns = cols.exitDur[k]!;
        const reason = cols.exitReason[k]!;
        byReason.add(reason, ns);
        const handling = cols.exitHandling[k]!;
        byHandling.add(handling, ns);
        mine.add(reason, ns);
        mineByHandling.add(handling, ns);
        exits++;
        exitNs += ns;
      }
    }
    out.events += events;
    out.exits += exits;
    out.exitNs += exitNs;
    out.byVcpu.push({ vm: lane.vm, vcpu: lane.vcpu, events, exits, exitNs, walkRefs: counts.vcpus[li]?.walkRefs ?? 0, byReason: mine.list(), byHandling: mineByHandling.list() });
  }
  out.byReason = byReason.list();
  out.byHandling = byHandling.list();
  return out;
}
