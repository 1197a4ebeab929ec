/**
 * One summary level of one lane (../mipmap.ts) as a reader keeps it. Decoded columns take about
 * five times the encoded bytes (a 100 M-event lane's finest level: 22 MB encoded, 118 MB decoded)
 * and a query reads at most a few thousand bins of a level whatever the session's length (its
 * window's buckets), so a large level is kept encoded, with where every BLOCK_BINS-th bin starts,
 * and a query decodes only the bins of its window. A small level (most of them: each is 4× coarser
 * than the one below) is kept decoded whole, within a budget shared by the reader's levels, as
 * queries over long ranges use it again and again.
 */
import { ByteReader, FormatError, fmtInt } from '../format.ts';
import { decodeLevel, skipBin, type Level, type PairCounts } from '../mipmap.ts';

/** Bins between two remembered starts: a slice skips at most this many bins at each of its ends. */
const BLOCK_BINS = 64;

/**
 * Levels of at most this many encoded bytes are kept decoded whole (about 5× as many bytes): at
 * 100 M events, every level of a lane but its finest (the next, 6 MB, decodes to 33 MB). A query
 * on a level kept encoded decodes its window's bins each time (about 1 µs a bin), which a zoomed
 * view pays on every redraw, so only the levels too large to hold are kept so.
 */
const WHOLE_LEVEL_BYTES = 8 << 20;

/** Bins [binFrom, binTo) of `level` are those a slice asked for. */
export interface BinRun {
  level: Level;
  binFrom: number;
  binTo: number;
}

/** Whole decoded levels kept, least recently used first, within a byte budget (one per reader). */
export class DecodedLevels {
  private readonly kept = new Map<LevelBins, number>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  /** `lv` was used (decoded now: its decoded size `size`): keep it, dropping the least recently used beyond the budget. */
  use(lv: LevelBins, size: number): void {
    const had = this.kept.get(lv);
    if (had !== undefined) this.kept.delete(lv);
    else this.bytes += size;
    this.kept.set(lv, had ?? size);
    for (const [old, oldSize] of this.kept) {
      if (this.bytes <= this.budget || old === lv) break;
      old.drop();
      this.kept.delete(old);
      this.bytes -= oldSize;
    }
  }

  /** Bytes of decoded levels kept now. */
  get size(): number {
    return this.bytes;
  }
}

export class LevelBins {
  /** A small level decoded (undefined when dropped by the budget or for a large level). */
  private whole: Level | undefined;
  /** A large level's last slice (a window's few thousand bins at most). */
  private last: { from: number; to: number; run: BinRun } | undefined;
  /**
   * For a large level, of bin b·BLOCK_BINS: its byte offset, its grid index and that of the bin
   * before it (0 for the first), and the type, reason and handling pairs of the bins before it.
   */
  private readonly blockAt: Float64Array;
  private readonly blockIdx: Float64Array;
  private readonly blockPrev: Float64Array;
  private readonly blockPairs: Float64Array;

  private constructor(
    readonly k: number,
    readonly bins: number,
    private readonly bytes: Uint8Array,
    private readonly typeCount: number,
    private readonly stringCount: number,
    private readonly decoded: DecodedLevels,
    wholeBytes: number,
  ) {
    const blocks = bytes.length > wholeBytes ? Math.ceil(bins / BLOCK_BINS) : 0;
    this.blockAt = new Float64Array(blocks);
    this.blockIdx = new Float64Array(blocks);
    this.blockPrev = new Float64Array(blocks);
    this.blockPairs = new Float64Array(3 * blocks);
  }

  /**
   * A level's encoded bins, checked as a whole decode checks them (a large one a block at a time,
   * so that the check never holds its columns), their events counted against `events`. Throws
   * FormatError when they do not hold. `wholeBytes`: the most encoded bytes of a level kept decoded whole.
   */
  static check(k: number, bins: number, bytes: Uint8Array, typeCount: number, stringCount: number, events: number, decoded: DecodedLevels, wholeBytes = WHOLE_LEVEL_BYTES): LevelBins {
    if (bins > bytes.length / 4 + 1) throw new FormatError('a summary level declares more bins than its bytes can hold');
    const lv = new LevelBins(k, bins, bytes, typeCount, stringCount, decoded, wholeBytes);
    let total = 0;
    if (lv.blockAt.length === 0) {
      // kept (counted in `decoded`) only once it passed every check
      lv.whole = decodeLevel(k, bins, bytes, typeCount, stringCount);
      for (const e of lv.whole.events) total += e;
    } else {
      let prev = 0;
      const pairs: PairCounts = { types: 0, reasons: 0, handlings: 0 };
      const run: { after?: number; end?: number } = { end: 0 };
      for (let b = 0, blk = 0; b < bins; b += BLOCK_BINS, blk++) {
        const n = Math.min(BLOCK_BINS, bins - b);
        const start = run.end!;
        run.after = b === 0 ? undefined : prev;
        const block = decodeLevel(k, n, bytes.subarray(start), typeCount, stringCount, run);
        run.end! += start;
        lv.blockAt[blk] = start;
        lv.blockIdx[blk] = block.idx[0]!;
        lv.blockPrev[blk] = prev;
        lv.blockPairs.set([pairs.types, pairs.reasons, pairs.handlings], 3 * blk);
        pairs.types += block.typeStart[n]!;
        pairs.reasons += block.reasonStart[n]!;
        pairs.handlings += block.handlingStart[n]!;
        prev = block.idx[n - 1]!;
        for (const e of block.events) total += e;
      }
      if (run.end !== bytes.length) throw new FormatError('bytes left over after a summary level');
    }
    if (total !== events) throw new FormatError(`a level counts ${fmtInt(total)} events where the lane has ${fmtInt(events)}`);
    if (lv.whole) decoded.use(lv, columnBytes(lv.whole));
    return lv;
  }

  /** Bytes kept for this level, encoded (its decoded columns are counted by DecodedLevels). */
  get byteLength(): number {
    return this.bytes.byteLength + this.blockAt.byteLength * 6;
  }

  /** Called by DecodedLevels when it drops this level's columns. */
  drop(): void {
    this.whole = undefined;
  }

  private decodeWhole(): Level {
    let w = this.whole;
    if (!w) {
      w = this.whole = decodeLevel(this.k, this.bins, this.bytes, this.typeCount, this.stringCount);
      this.decoded.use(this, columnBytes(w));
    } else this.decoded.use(this, 0);
    return w;
  }

  /** The bins whose grid index i has from <= i < to (their own indexes kept). */
  slice(from: number, to: number): BinRun {
    if (this.blockAt.length === 0) {
      const level = this.decodeWhole();
      return { level, binFrom: binAtOrAfter(level, from), binTo: Math.max(binAtOrAfter(level, from), binAtOrAfter(level, to)) };
    }
    // a view asks for its timeline and its density over the same window: one decode for both
    if (this.last?.from === from && this.last.to === to) return this.last.run;
    const a = this.find(from);
    const b = this.find(to);
    const n = Math.max(0, b.bin - a.bin);
    const pairs = n ? { types: b.pairs.types - a.pairs.types, reasons: b.pairs.reasons - a.pairs.reasons, handlings: b.pairs.handlings - a.pairs.handlings } : undefined;
    const level = decodeLevel(this.k, n, this.bytes.subarray(a.at), this.typeCount, this.stringCount, { after: a.bin === 0 ? undefined : a.prev, pairs });
    const run = { level, binFrom: 0, binTo: n };
    this.last = { from, to, run };
    return run;
  }

  /**
   * The first bin whose grid index is at least i (or the level's end): its number, byte offset,
   * the index of the bin before it and the pairs of the bins before it.
   */
  private find(i: number): { bin: number; at: number; prev: number; pairs: PairCounts } {
    // the last block starting at or before i
    let lo = 0;
    let hi = this.blockIdx.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.blockIdx[mid]! <= i) lo = mid + 1;
      else hi = mid;
    }
    const blk = Math.max(0, lo - 1);
    const r = new ByteReader(this.bytes, this.blockAt[blk] ?? 0);
    let prev = this.blockPrev[blk] ?? 0;
    let bin = blk * BLOCK_BINS;
    const p = this.blockPairs;
    const pairs: PairCounts = { types: p[3 * blk] ?? 0, reasons: p[3 * blk + 1] ?? 0, handlings: p[3 * blk + 2] ?? 0 };
    for (; bin < this.bins; bin++) {
      const at = r.pos;
      const { types, reasons, handlings } = pairs;
      const idx = prev + skipBin(r, pairs);
      if (idx >= i) return { bin, at, prev, pairs: { types, reasons, handlings } };
      prev = idx;
    }
    return { bin, at: r.pos, prev, pairs };
  }
}

/** First bin of `level` whose grid index is at least `i` (binary search). */
function binAtOrAfter(level: Level, i: number): number {
  let lo = 0;
  let hi = level.idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (level.idx[mid]! < i) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function columnBytes(level: Level): number {
  let n = 0;
  for (const v of Object.values(level)) if (ArrayBuffer.isView(v)) n += v.byteLength;
  return n;
}
