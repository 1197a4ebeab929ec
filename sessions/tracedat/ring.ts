/**
 * One ftrace ring-buffer page (a "sub-buffer"), as trace.dat stores it and trace_pipe_raw hands
 * it out: a page header (timestamp, commit = bytes used plus flags) and then event headers of
 * 32 bits (type_len, time_delta) with their payloads. Time moves by the deltas; a time-extend
 * carries the high bits of a long delta, a time-stamp an absolute time; padding fills discarded
 * events and the page's unused tail. The layout numbers come from header_page / header_event.
 */
import type { EventHeader, PageHeader } from './formats.ts';

/** Low bits of `commit` that count the bytes used; the top ones are flags. */
const COMMIT_MASK = (1 << 27) - 1;
const MISSED_EVENTS = 0x80000000;
const MISSED_STORED = 0x40000000;
const TWO32 = 4294967296;

export class PageError extends Error {}

/** A page's events, struct-of-arrays so decoding a page makes no object per event. */
export class PageEvents {
  count = 0;
  /** Events lost just before this page (the kernel's count), -1 when lost but not counted. */
  lost = 0;
  ts: Float64Array;
  offset: Uint32Array;
  length: Uint32Array;
  constructor(capacity: number) {
    this.ts = new Float64Array(capacity);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
  }
}

export class PageDecoder {
  private readonly deltaMask: number;
  private readonly typeShift: number;
  private readonly typeMask: number;
  constructor(
    readonly page: PageHeader,
    readonly header: EventHeader,
    readonly littleEndian: boolean,
  ) {
    // On a little-endian kernel type_len is the low bits of the word, on big-endian the high bits.
    this.typeMask = (1 << header.typeLenBits) - 1;
    this.deltaMask = header.deltaBits >= 32 ? 0xffffffff : ((1 << header.deltaBits) - 1) >>> 0;
    this.typeShift = littleEndian ? 0 : header.deltaBits;
  }

  /** A PageEvents big enough for any page of `pageSize` bytes (an event is at least 8 bytes). */
  events(pageSize: number): PageEvents {
    return new PageEvents(Math.ceil(pageSize / 4) + 1);
  }

  private u64(view: DataView, at: number): number {
    const lo = view.getUint32(at, this.littleEndian);
    const hi = view.getUint32(at + 4, this.littleEndian);
    return this.littleEndian ? hi * TWO32 + lo : lo * TWO32 + hi;
  }

  /**
   * Decode the page at `start` of `view` (pageSize bytes) into `out`. Returns the page's
   * timestamp. Throws PageError when the page contradicts itself (a damaged file).
   */
  decode(view: DataView, start: number, pageSize: number, out: PageEvents): number {
    const p = this.page;
    const le = this.littleEndian;
    let ts = this.u64(view, start + p.timestampOffset);
    const flagsWord = p.commitSize === 8 && !le ? view.getUint32(start + p.commitOffset + 4, le) : view.getUint32(start + p.commitOffset, le);
    const used = flagsWord & COMMIT_MASK;
    const dataStart = start + p.dataOffset;
    const dataEnd = dataStart + used;
    out.count = 0;
    out.lost = 0;
    if (flagsWord & MISSED_EVENTS) {
      out.lost = -1;
      if (flagsWord & MISSED_STORED && dataEnd + p.commitSize <= start + pageSize)
        out.lost = p.commitSize === 8 ? this.u64(view, dataEnd) : view.getUint32(dataEnd, le);
    }
    if (p.dataOffset + used > pageSize) throw new PageError(`the page says it holds ${used} bytes, more than its ${pageSize - p.dataOffset}`);
    const h = this.header;
    const typeMask = this.typeMask;
    const typeShift = this.typeShift;
    const deltaBits = h.deltaBits;
    const deltaMask = this.deltaMask;
    let at = dataStart;
    let n = 0;
    while (at + 4 <= dataEnd) {
      const word = view.getUint32(at, le);
      const type = (word >>> typeShift) & typeMask;
      const delta = le ? word >>> h.typeLenBits : word & deltaMask;
      at += 4;
      if (type === 0) {
        // long event: its length (including this length word) in array[0]
        if (at + 4 > dataEnd) throw new PageError(`an event header at byte ${at - 4 - start} of the page is cut by the page's end`);
        const len = view.getUint32(at, le);
        if (len < 4 || at + len > dataEnd + 3) throw new PageError(`an event at byte ${at - 4 - start} of the page claims ${len} bytes`);
        ts += delta;
        out.ts[n] = ts;
        out.offset[n] = at + 4;
        out.length[n] = len - 4;
        n++;
        at += (len + 3) & ~3;
      } else if (type <= h.dataMax) {
        const len = type * 4;
        if (at + len > dataEnd) throw new PageError(`an event at byte ${at - 4 - start} of the page runs past the page's data`);
        ts += delta;
        out.ts[n] = ts;
        out.offset[n] = at;
        out.length[n] = len;
        n++;
        at += len;
      } else if (type === h.timeExtend) {
        if (at + 4 > dataEnd) throw new PageError(`a time extend at byte ${at - 4 - start} of the page is cut by the page's end`);
        ts += view.getUint32(at, le) * 2 ** deltaBits + delta;
        at += 4;
      } else if (type === h.timeStamp) {
        if (at + 4 > dataEnd) throw new PageError(`a time stamp at byte ${at - 4 - start} of the page is cut by the page's end`);
        // absolute: the low 59 bits; the top bits stay those of the page's clock
        const abs = view.getUint32(at, le) * 2 ** deltaBits + delta;
        const high = Math.floor(ts / 2 ** 59) * 2 ** 59;
        ts = high + abs;
        at += 4;
      } else if (type === h.padding) {
        // delta 0: the rest of the page is unused; else a discarded event of array[0] bytes
        if (delta === 0 || at + 4 > dataEnd) break;
        const len = view.getUint32(at, le);
        ts += delta;
        if (len < 4 || at + len > dataEnd + 3) break;
        at += len;
      } else {
        throw new PageError(`unknown event type ${type} at byte ${at - 4 - start} of the page`);
      }
    }
    out.count = n;
    return ts;
  }
}
