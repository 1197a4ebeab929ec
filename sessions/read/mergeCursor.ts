/** Reading the lanes merged into canonical order, one event at a time. */
import type { MmuEvent } from '../../core/events.ts';
import { ChunkTooLarge } from '../codec.ts';
import type { LaneIndex } from './laneIndex.ts';
import { READ_LIMITS, ReaderLimitError } from './limits.ts';

/**
 * A merge cursor over the lanes: canonical order is (t, vm, vcpu, emission order). It holds one
 * decoded chunk per lane, within READ_LIMITS.mergeBytes; past that it throws ReaderLimitError.
 */
export class MergeCursor {
  /** Next ordinal per lane. */
  pos: number[];
  /** Global index of the next event. */
  index = 0;
  private heap: number[] = [];
  private nextT: number[];
  private cur: ({ chunk: number; events: MmuEvent[]; cost: number } | undefined)[];
  /** Estimated bytes of the decoded chunks in `cur`. */
  private held = 0;

  constructor(private readonly r: LaneIndex) {
    this.pos = new Array<number>(r.lanes.length).fill(0);
    this.nextT = new Array<number>(r.lanes.length).fill(0);
    this.cur = new Array(r.lanes.length).fill(undefined);
    this.rebuild();
  }

  seekTo(index: number, pos: number[]): void {
    this.index = index;
    this.pos = [...pos];
    this.cur.fill(undefined);
    this.held = 0;
    this.rebuild();
  }

  private peekLane(l: number): MmuEvent | undefined {
    const lane = this.r.lanes[l]!;
    const ord = this.pos[l]!;
    if (ord >= lane.count) return undefined;
    let c = this.cur[l];
    if (c) {
      const ch = lane.chunks[c.chunk]!;
      if (ord < ch.ordinal || ord >= ch.ordinal + ch.count) {
        this.held -= c.cost;
        c = this.cur[l] = undefined;
      }
    }
    if (!c) {
      const ci = this.r.chunkOfOrdinal(lane, ord);
      const chunk = lane.chunks[ci]!;
      const room = READ_LIMITS.mergeBytes - this.held;
      let events: MmuEvent[];
      try {
        events = this.r.store.decodeChunk(chunk, room);
      } catch (e) {
        if (e instanceof ChunkTooLarge) throw new ReaderLimitError(this.r.lanes.length);
        throw e;
      }
      const cost = events.length ? (chunk.cost ?? 0) : 0;
      if (cost > room) throw new ReaderLimitError(this.r.lanes.length);
      this.held += cost;
      c = { chunk: ci, events, cost };
      this.cur[l] = c;
    }
    const ch = lane.chunks[c.chunk]!;
    // a chunk that failed to decode yields no events: report its slot as missing
    return c.events[ord - ch.ordinal];
  }

  private less(a: number, b: number): boolean {
    const ta = this.nextT[a]!;
    const tb = this.nextT[b]!;
    return ta < tb || (ta === tb && a < b);
  }

  private rebuild(): void {
    this.heap = [];
    for (let l = 0; l < this.r.lanes.length; l++) this.advance(l);
  }

  private push(l: number): void {
    const h = this.heap;
    h.push(l);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): number | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const a = 2 * i + 1;
        const b = a + 1;
        let m = i;
        if (a < h.length && this.less(h[a]!, h[m]!)) m = a;
        if (b < h.length && this.less(h[b]!, h[m]!)) m = b;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  next(): MmuEvent | undefined {
    const l = this.pop();
    if (l === undefined) return undefined;
    const e = this.peekLane(l)!;
    this.pos[l]!++;
    this.advance(l);
    this.index++;
    return e;
  }

  /** Queue lane `l` at its next readable event, stepping over chunks that failed to decode. */
  private advance(l: number): void {
    const lane = this.r.lanes[l]!;
    while (this.pos[l]! < lane.count) {
      const e = this.peekLane(l);
      if (e) {
        this.nextT[l] = e.t;
        this.push(l);
        return;
      }
      const ch = lane.chunks[this.r.chunkOfOrdinal(lane, this.pos[l]!)]!;
      this.pos[l] = ch.ordinal + ch.count;
    }
  }
}

/** Every event of the session in canonical order. */
export function* iterateEvents(ix: LaneIndex): Generator<MmuEvent> {
  const c = new MergeCursor(ix);
  for (let e = c.next(); e; e = c.next()) yield e;
}
