/** Reading the lanes merged into canonical order, one event at a time. */
import type { MmuEvent } from '../../core/events.ts';
import { ChunkTooLarge, DECODE_COST, type ChunkStream } from '../codec.ts';
import type { LaneIndex } from './laneIndex.ts';
import { READ_LIMITS, ReaderLimitError } from './limits.ts';
import type { ChunkRef } from './model.ts';

/** A lane's current chunk in a merge: its events from ordinal `base` (all of them, or a streamed batch). */
interface LaneChunk {
  chunk: number;
  base: number;
  events: MmuEvent[];
  /** Estimated bytes held for it (decoded events, or body + dictionary + batch). */
  cost: number;
  /** Bytes of the inflated body a stream holds. */
  body: number;
  stream?: ChunkStream;
}

/** Chunks whose decoded events would take more than this are streamed in a merge, not decoded whole. */
const STREAM_ABOVE = 16 << 20;
const STREAM_BATCH = 1024;
/** The decoded size of a whole chunk, estimated from its prefix before anything is read. */
const wholeEstimate = (ch: ChunkRef) => ch.cost ?? ch.count * (DECODE_COST.event + 4 * DECODE_COST.field + DECODE_COST.slot) + ch.rawLength * DECODE_COST.perByte;

/**
 * A merge cursor over the lanes: canonical order is (t, vm, vcpu, emission order). It holds one
 * chunk per lane (decoded whole when small, else streamed a batch at a time), within
 * READ_LIMITS.mergeBytes; past that it throws ReaderLimitError.
 */
export class MergeCursor {
  /** Next ordinal per lane. */
  pos: number[];
  /** Global index of the next event. */
  index = 0;
  private heap: number[] = [];
  private nextT: number[];
  private cur: (LaneChunk | undefined)[];
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
      if (ord < ch.ordinal || ord >= ch.ordinal + ch.count || ord < c.base) {
        this.held -= c.cost;
        c = this.cur[l] = undefined;
      } else if (c.stream && ord >= c.base + c.events.length) {
        // the next batch of a streamed chunk (a cursor only moves forward within a chunk)
        this.held -= c.cost;
        const stream = c.stream;
        try {
          stream.next(ord - c.base - c.events.length); // skipped, if the cursor jumped ahead
          c.base = ch.ordinal + stream.done;
          const before = stream.cost;
          c.events = stream.next(STREAM_BATCH);
          c.cost = c.body + stream.dictCost + (stream.cost - before);
        } catch (e) {
          if (e instanceof ChunkTooLarge) throw new ReaderLimitError(this.r.lanes.length);
          throw e;
        }
        if (this.held + c.cost > READ_LIMITS.mergeBytes) throw new ReaderLimitError(this.r.lanes.length);
        this.held += c.cost;
      }
    }
    if (!c) {
      const ci = this.r.chunkOfOrdinal(lane, ord);
      c = this.load(ci, lane.chunks[ci]!, ord);
      this.cur[l] = c;
    }
    // a chunk that failed to decode yields no events: report its slot as missing
    return c.events[ord - c.base];
  }

  /**
   * A lane's chunk for reading from `ord`: decoded whole (and shared through the store's cache)
   * when that is small, else streamed a batch at a time; within READ_LIMITS.mergeBytes either way.
   */
  private load(ci: number, chunk: ChunkRef, ord: number): LaneChunk {
    const room = READ_LIMITS.mergeBytes - this.held;
    const whole = this.r.store.cached(chunk);
    if (whole || wholeEstimate(chunk) <= STREAM_ABOVE) {
      let events: MmuEvent[];
      try {
        events = whole ?? this.r.store.decodeChunk(chunk, room);
      } catch (e) {
        if (e instanceof ChunkTooLarge) throw new ReaderLimitError(this.r.lanes.length);
        throw e;
      }
      const cost = events.length ? (chunk.cost ?? 0) : 0;
      if (cost > room) throw new ReaderLimitError(this.r.lanes.length);
      this.held += cost;
      return { chunk: ci, base: chunk.ordinal, events, cost, body: 0 };
    }
    const s = this.r.store.stream(chunk);
    if (!s) return { chunk: ci, base: chunk.ordinal, events: [], cost: 0, body: 0 };
    if (s.held + s.stream.dictCost > room) throw new ReaderLimitError(this.r.lanes.length);
    try {
      s.stream.next(ord - chunk.ordinal); // events before `ord` are decoded and dropped
      const before = s.stream.cost;
      const events = s.stream.next(STREAM_BATCH);
      const cost = s.held + s.stream.dictCost + (s.stream.cost - before);
      if (cost > room) throw new ReaderLimitError(this.r.lanes.length);
      this.held += cost;
      return { chunk: ci, base: chunk.ordinal + s.stream.done - events.length, events, cost, body: s.held, stream: s.stream };
    } catch (e) {
      // a single event larger than a chunk may take (a huge text)
      if (e instanceof ChunkTooLarge) throw new ReaderLimitError(this.r.lanes.length);
      throw e;
    }
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
