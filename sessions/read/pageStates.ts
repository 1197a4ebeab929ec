/**
 * Page-table state at any event: the nearest keyframe (from the file, else built in memory in
 * one pass) plus a replay of the events after it; and the check of the file's keyframes.
 */
import { CHUNK, fmtInt } from '../format.ts';
import { keyframeBody, type KeyframeRef } from '../annex.ts';
import { PageState } from '../state.ts';
import type { LaneIndex } from './laneIndex.ts';
import { cursorAfter } from './positions.ts';
import { iterateEvents } from './mergeCursor.ts';

/** Spacing of in-memory keyframes for sessions that have none in the file. */
const MEMORY_KEYFRAME_EVENTS = 16_384;

export class PageStates {
  /** Keyframes built in memory (state bytes by applied count) when the file has none. */
  private memoryKeyframes: { applied: number; t: number; state: Uint8Array }[] | undefined;

  constructor(
    private readonly ix: LaneIndex,
    private readonly vms: number,
    private readonly eventCount: number,
    /** Keyframes written for exactly this session's events, in order. */
    private readonly keyframes: KeyframeRef[],
  ) {}

  /** The state bytes of the nearest keyframe at or before `applied` events (file keyframes first). */
  private nearestKeyframe(applied: number): { applied: number; t: number; state: () => PageState } {
    const ks = this.keyframes;
    let lo = 0;
    let hi = ks.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ks[mid]!.applied <= applied) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // A damaged keyframe is skipped for the one before it.
    for (let i = best; i >= 0; i--) {
      const k = ks[i]!;
      try {
        const s = PageState.decode(keyframeBody(this.ix.store.payload(k.offset, k.length, CHUNK.KEYF), k));
        if (s.applied === k.applied) return { applied: k.applied, t: k.t, state: () => s };
      } catch {
        // fall through to an earlier keyframe
      }
    }
    if (ks.length === 0 && this.eventCount > 0) {
      const mem = this.buildMemoryKeyframes();
      let pick: { applied: number; t: number; state: Uint8Array } | undefined;
      for (const m of mem) if (m.applied <= applied) pick = m;
      if (pick) {
        const bytes = pick.state;
        return { applied: pick.applied, t: pick.t, state: () => PageState.decode(bytes) };
      }
    }
    return { applied: 0, t: 0, state: () => new PageState(this.vms) };
  }

  /**
   * For a session without keyframes (a killed recording, an older file): one pass over the
   * events, keeping a snapshot every MEMORY_KEYFRAME_EVENTS events in memory (a few KB each).
   */
  private buildMemoryKeyframes(): { applied: number; t: number; state: Uint8Array }[] {
    if (this.memoryKeyframes) return this.memoryKeyframes;
    const out: { applied: number; t: number; state: Uint8Array }[] = [];
    const state = new PageState(this.vms);
    for (const e of iterateEvents(this.ix)) {
      state.apply(e);
      if (state.applied % MEMORY_KEYFRAME_EVENTS === 0) out.push({ applied: state.applied, t: e.t, state: state.encode() });
    }
    this.memoryKeyframes = out;
    return out;
  }

  /** Page-table state just before canonical event `applied` (i.e. after events [0, applied)). */
  stateBefore(applied: number): PageState {
    const n = Math.max(0, Math.min(Math.floor(applied), this.eventCount));
    const k = this.nearestKeyframe(n);
    const state = k.state();
    if (k.applied >= n) return state;
    const c = cursorAfter(this.ix, k.applied, k.t);
    for (let i = k.applied; i < n; i++) {
      const e = c.next();
      if (!e) break;
      state.apply(e, i);
    }
    return state;
  }

  /**
   * Check every keyframe of the file against a replay from the start. Returns one line per
   * keyframe that differs (empty when all match), and how many were checked.
   */
  verifyKeyframes(): { checked: number; problems: string[] } {
    const problems: string[] = [];
    const ks = this.keyframes;
    if (!ks.length) return { checked: 0, problems };
    let next = 0;
    const state = new PageState(this.vms);
    const check = () => {
      while (next < ks.length && ks[next]!.applied === state.applied) {
        const k = ks[next++]!;
        let body: Uint8Array | undefined;
        try {
          body = keyframeBody(this.ix.store.payload(k.offset, k.length, CHUNK.KEYF), k);
        } catch (e) {
          problems.push(`the keyframe at byte ${fmtInt(k.offset)} (after ${fmtInt(k.applied)} events) cannot be read: ${(e as Error).message}`);
          continue;
        }
        const mine = state.encode();
        if (mine.length !== body.length || mine.some((b, i) => b !== body[i]))
          problems.push(`the keyframe at byte ${fmtInt(k.offset)} (after ${fmtInt(k.applied)} events) differs from a replay of the events before it`);
      }
    };
    check();
    for (const e of iterateEvents(this.ix)) {
      state.apply(e);
      if (next < ks.length && ks[next]!.applied === state.applied) check();
    }
    for (; next < ks.length; next++) problems.push(`the keyframe at byte ${fmtInt(ks[next]!.offset)} is after event ${fmtInt(ks[next]!.applied)}, which the session does not have`);
    return { checked: ks.length, problems };
  }
}
