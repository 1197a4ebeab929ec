/**
 * Per-lane summaries of a session over a global time grid (a mipmap): at level k the time axis
 * is cut into bins of 2^k ns (bin i holds the events with i·2^k <= t < (i+1)·2^k), and each bin
 * keeps its events per type and its exits per reason and per handling, the first exit's time and
 * the latest exit end. Levels step by 4× in width. A query whose buckets are whole grid cells
 * (see `gridFor`) is answered from the bins it covers, so a whole-run view of a long session
 * reads a few thousand bins instead of decoding every chunk.
 *
 * The writer builds the levels while it appends (`LaneMipmapBuilder`, O(1) per event) and stores
 * them at close in the SUMM chunk (docs/session-format.md); a reader without that chunk builds the
 * same levels from the chunks' columns, once. Pure TypeScript over bytes: no Node, no DOM.
 */
import { ByteReader, ByteWriter, FormatError } from './format.ts';

/** Levels are 2^0, 2^2, 2^4, … ns wide. */
export const LEVEL_STEP = 2;
/** The widest level: 2^52 ns (event times are integers below 2^53). */
export const MAX_LEVEL = 52;
/**
 * A level is kept only if it has at most one bin per this many events of its lane (while
 * writing, plus a few): finer levels would cost about as much as the events themselves.
 */
export const MIN_EVENTS_PER_BIN = 128;
const BIN_SLACK = 16;

/** The bucket grid of a query: buckets of 2^k ns, at most one pixel (`(t1 - t0) / buckets`) each. */
export interface Grid {
  k: number;
  /** Bucket width in ns (2^k). */
  width: number;
  /** Grid index of bucket 0 (floor(t0 / width)). */
  first: number;
  /** Buckets from the one holding t0 to the one holding t1. */
  count: number;
}

export function gridFor(t0: number, t1: number, buckets: number): Grid {
  const pixel = Math.max(t1 - t0, 1) / Math.max(1, Math.floor(buckets) || 1);
  let k = Math.max(0, Math.min(MAX_LEVEL, Math.floor(Math.log2(pixel))));
  // log2 of a float can round up past an exact power: the width must not exceed a pixel
  while (k > 0 && 2 ** k > pixel) k--;
  const width = 2 ** k;
  const first = Math.floor(Math.max(0, t0) / width);
  return { k, width, first, count: Math.floor(Math.max(t0, t1) / width) - first + 1 };
}

/** One stored level of one lane, decoded into columns (bin b's pairs are [start[b], start[b+1])). */
export interface Level {
  k: number;
  /** Grid index of each bin, increasing. */
  idx: Float64Array;
  events: Float64Array;
  typeStart: Uint32Array;
  typeId: Uint16Array;
  typeN: Float64Array;
  exits: Float64Array;
  firstExitT: Float64Array;
  maxExitEnd: Float64Array;
  reasonStart: Uint32Array;
  reasonId: Uint32Array;
  reasonN: Float64Array;
  /** Per reason pair: total, least and greatest exit duration (ns). */
  reasonNs: Float64Array;
  reasonMin: Float64Array;
  reasonMax: Float64Array;
  handlingStart: Uint32Array;
  handlingId: Uint32Array;
  handlingN: Float64Array;
  handlingNs: Float64Array;
  handlingMin: Float64Array;
  handlingMax: Float64Array;
}

/** Exits of one reason or handling in a bin or a range: how many, and their total, least and greatest duration. */
export interface ExitStat {
  n: number;
  ns: number;
  min: number;
  max: number;
}

/** Adds `n` exits of total `ns` and extremes `min`/`max` to `key`'s entry of `m`. */
export function addExitStat<K>(m: Map<K, ExitStat>, key: K, n: number, ns: number, min: number, max: number): void {
  const x = m.get(key);
  if (!x) m.set(key, { n, ns, min, max });
  else {
    x.n += n;
    x.ns += ns;
    if (min < x.min) x.min = min;
    if (max > x.max) x.max = max;
  }
}

/** An open bin while building. */
class Bin {
  idx = -1;
  events = 0;
  /**
   * Events per type id (by id), and the ids counted (the first `types` of `typeIds`): typed
   * arrays, so an id read back is always a small integer (a plain array's elements could turn
   * to doubles, and the optimized addType then throws its code away) and closing a bin
   * allocates nothing (no iterator, no sort's scratch).
   */
  typeN = new Float64Array(16);
  typeIds = new Uint16Array(16);
  types = 0;
  exits = 0;
  firstExitT = 0;
  maxExitEnd = 0;
  readonly reasons = new Map<number, ExitStat>();
  readonly handlings = new Map<number, ExitStat>();

  reset(idx: number): void {
    this.idx = idx;
    this.events = 0;
    const ids = this.typeIds;
    for (let i = 0; i < this.types; i++) this.typeN[ids[i]!] = 0;
    this.types = 0;
    this.exits = 0;
    this.firstExitT = 0;
    this.maxExitEnd = 0;
    if (this.reasons.size) this.reasons.clear();
    if (this.handlings.size) this.handlings.clear();
  }

  addType(id: number, n: number): void {
    if (id >= this.typeN.length) this.grow(id);
    const was = this.typeN[id]!;
    if (was === 0) {
      if (this.types === this.typeIds.length) this.grow(id);
      this.typeIds[this.types++] = id;
      this.typeN[id] = n;
    } else this.typeN[id] = was + n;
  }

  /** Room for type id `id` and one more id counted. */
  private grow(id: number): void {
    const size = Math.max(2 * this.typeN.length, id + 1);
    const typeN = new Float64Array(size);
    typeN.set(this.typeN);
    this.typeN = typeN;
    const typeIds = new Uint16Array(size);
    typeIds.set(this.typeIds);
    this.typeIds = typeIds;
  }

  /** The ids counted, in increasing order (a few: an insertion sort). */
  sortTypes(): void {
    const ids = this.typeIds;
    for (let i = 1; i < this.types; i++) {
      const v = ids[i]!;
      let j = i - 1;
      for (; j >= 0 && ids[j]! > v; j--) ids[j + 1] = ids[j]!;
      ids[j + 1] = v;
    }
  }

  mergeInto(to: Bin): void {
    to.events += this.events;
    const ids = this.typeIds;
    for (let i = 0; i < this.types; i++) to.addType(ids[i]!, this.typeN[ids[i]!]!);
    if (this.exits) {
      if (!to.exits || this.firstExitT < to.firstExitT) to.firstExitT = this.firstExitT;
      if (!to.exits || this.maxExitEnd > to.maxExitEnd) to.maxExitEnd = this.maxExitEnd;
      to.exits += this.exits;
      for (const [id, x] of this.reasons) addExitStat(to.reasons, id, x.n, x.ns, x.min, x.max);
      for (const [id, x] of this.handlings) addExitStat(to.handlings, id, x.n, x.ns, x.min, x.max);
    }
  }
}

function writeStats(w: ByteWriter, m: Map<number, ExitStat>): void {
  const ids = [...m.keys()].sort((a, b) => a - b);
  w.varuint(ids.length);
  for (const id of ids) {
    const x = m.get(id)!;
    w.varuint(id);
    w.varuint(x.n);
    w.varuint(x.ns);
    w.varuint(x.min);
    w.varuint(x.max - x.min);
  }
}

class LevelBuilder {
  readonly open = new Bin();
  readonly out = new ByteWriter(256);
  bins = 0;
  private prevIdx = 0;
  /** 2^k, the bin's width in ns (a power with a variable exponent costs a library call per event). */
  readonly width: number;
  constructor(readonly k: number) {
    this.width = 2 ** k;
  }

  /** Encode the open bin (see docs/session-format.md, "SUMM"). */
  emit(): void {
    const b = this.open;
    const w = this.out;
    w.varuint(b.idx - this.prevIdx);
    this.prevIdx = b.idx;
    w.varuint(b.events);
    b.sortTypes();
    w.varuint(b.types);
    for (let i = 0; i < b.types; i++) {
      const id = b.typeIds[i]!;
      w.varuint(id);
      w.varuint(b.typeN[id]!);
    }
    w.varuint(b.exits);
    if (b.exits) {
      w.varuint(b.firstExitT - b.idx * 2 ** this.k);
      w.varuint(b.maxExitEnd - b.firstExitT);
      writeStats(w, b.reasons);
      writeStats(w, b.handlings);
    }
    this.bins++;
  }
}

/** A finished level: its encoded bins. */
export interface EncodedLevel {
  k: number;
  bins: number;
  bytes: Uint8Array;
}

/**
 * Builds one lane's levels from its events in time order. Only the finest kept level sees each
 * event; a bin that closes is merged into the next level's open bin, so an event costs O(1).
 * The finest level is dropped whenever it has more than one bin per MIN_EVENTS_PER_BIN events.
 */
export class LaneMipmapBuilder {
  /** Every level from 2^0 ns up; a dropped level is undefined. */
  private readonly levels: (LevelBuilder | undefined)[] = [];
  /** Index in `levels` of the finest level still kept. */
  private finest = 0;
  events = 0;
  /**
   * The finest level's open bin and the times it holds, [openStart, openEnd): the bin an event
   * goes to unless it is past it. Empty until the first event; every close and prune happens in
   * `openFor`, which sets them again (`finish` ends the building).
   */
  private open: Bin;
  private openStart = 0;
  private openEnd = 0;

  constructor() {
    for (let k = 0; k <= MAX_LEVEL; k += LEVEL_STEP) this.levels.push(new LevelBuilder(k));
    this.open = this.levels[0]!.open;
  }

  /** Add one event (times never decrease). `exitDuration` and the string ids for a vmexit. */
  add(t: number, typeId: number, exitDuration?: number, reasonId?: number, handlingId?: number): void {
    // most events fall in the finest level's open bin, found by two compares (no division)
    if (t < this.openStart || t >= this.openEnd) this.openFor(t);
    const b = this.open;
    this.events++;
    b.events++;
    b.addType(typeId, 1);
    if (exitDuration !== undefined) {
      const end = t + exitDuration;
      if (!b.exits) {
        b.firstExitT = t;
        b.maxExitEnd = end;
      } else if (end > b.maxExitEnd) b.maxExitEnd = end;
      b.exits++;
      addExitStat(b.reasons, reasonId!, 1, exitDuration, exitDuration, exitDuration);
      addExitStat(b.handlings, handlingId!, 1, exitDuration, exitDuration, exitDuration);
    }
  }

  /** Make the finest kept level's open bin the one that holds `t`, closing the bins before it. */
  private openFor(t: number): void {
    let lv = this.levels[this.finest]!;
    let idx = Math.floor(t / lv.width);
    while (lv.open.idx !== idx) {
      if (lv.open.idx < 0) {
        lv.open.reset(idx);
        break;
      }
      // closing may drop the finest level: the event then goes to the next one's bin
      this.close(this.finest);
      lv = this.levels[this.finest]!;
      idx = Math.floor(t / lv.width);
    }
    this.open = lv.open;
    this.openStart = idx * lv.width;
    this.openEnd = (idx + 1) * lv.width;
  }

  /** Merge level j's open bin into level j+1's (closing that one first when it is another bin); empties j's. */
  private carry(j: number): void {
    const b = this.levels[j]!.open;
    const up = this.levels[j + 1];
    if (up && b.idx >= 0) {
      const idx = Math.floor(b.idx / 2 ** LEVEL_STEP);
      if (up.open.idx !== idx) {
        if (up.open.idx >= 0) this.close(j + 1);
        up.open.reset(idx);
      }
      b.mergeInto(up.open);
    }
    b.reset(-1);
  }

  /** Write level j's open bin and carry it up; then drop the finest levels that grew too fine. */
  private close(j: number): void {
    this.levels[j]!.emit();
    this.carry(j);
    if (j === this.finest) this.prune();
  }

  private prune(): void {
    const limit = this.events / MIN_EVENTS_PER_BIN + BIN_SLACK;
    while (this.finest < this.levels.length - 1 && this.levels[this.finest]!.bins > limit) {
      // its open bin (not written) goes on in the next level's
      this.carry(this.finest);
      this.levels[this.finest] = undefined;
      this.finest++;
    }
  }

  /** Close every open bin and return the kept levels, finest first, up to the first of one bin. */
  finish(): EncodedLevel[] {
    if (this.events === 0) return [];
    // (an event added after this finds no open bin, as before the first)
    this.openStart = this.openEnd = 0;
    for (let j = this.finest; j < this.levels.length; j++) if (this.levels[j] && this.levels[j]!.open.idx >= 0) this.close(j);
    // no slack here: a lane of a few events is cheaper to decode than to summarise
    const limit = this.events / MIN_EVENTS_PER_BIN;
    const out: EncodedLevel[] = [];
    for (let j = this.finest; j < this.levels.length; j++) {
      const lv = this.levels[j];
      if (!lv || lv.bins > limit) continue;
      out.push({ k: lv.k, bins: lv.bins, bytes: lv.out.bytes().slice() });
      if (lv.bins === 1) break;
    }
    return out;
  }
}

/** Reads past `n` pairs of `fields` numbers each; returns n. */
function skipPairs(r: ByteReader, fields: number): number {
  const n = r.varuint();
  for (let i = 0; i < n * fields; i++) r.varuint();
  return n;
}

/** How many type, reason and handling pairs some bins hold. */
export interface PairCounts {
  types: number;
  reasons: number;
  handlings: number;
}

/**
 * Reads past one encoded bin (docs/session-format.md, "SUMM") without checking it, returning its
 * grid-index delta and adding its pairs to `pairs`: how a reader finds the bytes of the bins it
 * needs, and the size of their columns, before decoding only those.
 */
export function skipBin(r: ByteReader, pairs: PairCounts): number {
  const delta = r.varuint();
  r.varuint();
  pairs.types += skipPairs(r, 2);
  if (r.varuint()) {
    r.varuint();
    r.varuint();
    pairs.reasons += skipPairs(r, 5);
    pairs.handlings += skipPairs(r, 5);
  }
  return delta;
}

/**
 * How many type, reason and handling pairs a level's bins hold: read first, so the decode fills
 * arrays of their final size (a level of a 100 M-event session holds millions of pairs; growing
 * plain arrays for them left hundreds of MB of garbage per level decoded).
 */
function countPairs(bins: number, bytes: Uint8Array): PairCounts {
  const r = new ByteReader(bytes);
  const pairs = { types: 0, reasons: 0, handlings: 0 };
  for (let b = 0; b < bins; b++) skipBin(r, pairs);
  return pairs;
}

/** Per-pair exit statistics of a level (reasons or handlings), filled in bin order. */
interface StatColumns {
  id: Uint32Array;
  n: Float64Array;
  ns: Float64Array;
  min: Float64Array;
  max: Float64Array;
  at: number;
}

const statColumns = (size: number): StatColumns => ({
  id: new Uint32Array(size),
  n: new Float64Array(size),
  ns: new Float64Array(size),
  min: new Float64Array(size),
  max: new Float64Array(size),
  at: 0,
});

/**
 * Decode `bins` bins of a level (throws FormatError on malformed bytes or counts that disagree):
 * the whole level, or with `run` a run of its bins from the start of `bytes` (bytes may follow
 * it; `run.end` is set to where it ends), whose first bin's index is a delta from `run.after`,
 * the grid index of the bin before the run (undefined: the run starts the level). `run.pairs`:
 * the run's pair counts when the caller has them (skipBin), else they are counted first.
 */
export function decodeLevel(k: number, bins: number, bytes: Uint8Array, typeCount: number, stringCount: number, run?: { after?: number; end?: number; pairs?: PairCounts }): Level {
  const after = run?.after;
  if (bins > bytes.length / 4 + 1) throw new FormatError('a summary level declares more bins than its bytes can hold');
  const size = run?.pairs ?? countPairs(bins, bytes);
  if (size.types + size.reasons + size.handlings > bytes.length) throw new FormatError('a summary level declares more entries than its bytes can hold');
  const r = new ByteReader(bytes);
  const idx = new Float64Array(bins);
  const events = new Float64Array(bins);
  const exits = new Float64Array(bins);
  const firstExitT = new Float64Array(bins);
  const maxExitEnd = new Float64Array(bins);
  const typeStart = new Uint32Array(bins + 1);
  const reasonStart = new Uint32Array(bins + 1);
  const handlingStart = new Uint32Array(bins + 1);
  const typeId = new Uint16Array(size.types);
  const typeN = new Float64Array(size.types);
  let typeAt = 0;
  const reason = statColumns(size.reasons);
  const handling = statColumns(size.handlings);
  const stats = (c: StatColumns, max: number, total: number) => {
    const n = r.varuint();
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const id = r.varuint();
      const count = r.varuint();
      if (id >= max || count === 0) throw new FormatError('a summary bin names an unknown string');
      c.id[c.at] = id;
      c.n[c.at] = count;
      c.ns[c.at] = r.varuint();
      const lo = r.varuint();
      c.min[c.at] = lo;
      c.max[c.at] = lo + r.varuint();
      c.at++;
      sum += count;
    }
    if (sum !== total) throw new FormatError('a summary bin\'s exit counts do not add up');
  };
  const width = 2 ** k;
  const pairs = (max: number, total: number) => {
    const n = r.varuint();
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const id = r.varuint();
      const c = r.varuint();
      if (id >= max || c === 0) throw new FormatError('a summary bin names an unknown type or string');
      typeId[typeAt] = id;
      typeN[typeAt++] = c;
      sum += c;
    }
    if (sum !== total) throw new FormatError('a summary bin\'s counts do not add up');
  };
  let prev = after ?? 0;
  for (let b = 0; b < bins; b++) {
    const i = prev + r.varuint();
    if ((b > 0 || after !== undefined) && i <= prev) throw new FormatError('summary bins are out of order');
    idx[b] = prev = i;
    events[b] = r.varuint();
    typeStart[b] = typeAt;
    pairs(typeCount, events[b]!);
    const x = r.varuint();
    if (x > events[b]!) throw new FormatError('a summary bin has more exits than events');
    exits[b] = x;
    reasonStart[b] = reason.at;
    handlingStart[b] = handling.at;
    if (x) {
      const off = r.varuint();
      if (off >= width) throw new FormatError('a summary bin\'s first exit lies outside it');
      firstExitT[b] = i * width + off;
      maxExitEnd[b] = firstExitT[b]! + r.varuint();
      stats(reason, stringCount, x);
      stats(handling, stringCount, x);
    }
  }
  typeStart[bins] = typeAt;
  reasonStart[bins] = reason.at;
  handlingStart[bins] = handling.at;
  if (run) run.end = r.pos;
  else if (r.remaining !== 0) throw new FormatError('bytes left over after a summary level');
  return {
    k,
    idx,
    events,
    typeStart,
    typeId,
    typeN,
    exits,
    firstExitT,
    maxExitEnd,
    reasonStart,
    reasonId: reason.id,
    reasonN: reason.n,
    reasonNs: reason.ns,
    reasonMin: reason.min,
    reasonMax: reason.max,
    handlingStart,
    handlingId: handling.id,
    handlingN: handling.n,
    handlingNs: handling.ns,
    handlingMin: handling.min,
    handlingMax: handling.max,
  };
}

/** A string table that hands out ids in first-seen order (exit reasons and handlings). */
export class StringIds {
  readonly list: string[] = [];
  private readonly ids = new Map<string, number>();
  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.list.length;
      this.ids.set(s, id);
      this.list.push(s);
    }
    return id;
  }
}

// ---------------------------------------------------------------------------------------------
// The SUMM chunk's payload: u32 length of a UTF-8 JSON directory, the directory, then every
// level's encoded bins back to back. Each level is found by its offset (from the end of the
// directory) and checked by its own CRC-32, so a reader reads only the levels a query needs.

/** 2: exits per reason and per handling carry their total, least and greatest duration. */
export const SUMMARY_VERSION = 2;

export interface SummaryLevelEntry {
  k: number;
  bins: number;
  offset: number;
  length: number;
  crc32: number;
}

export interface SummaryLaneEntry {
  vm: number;
  vcpu: number;
  /** Events of the lane the levels count (all of them: a reader checks it against the lane). */
  events: number;
  levels: SummaryLevelEntry[];
}

export interface SummaryDirectory {
  version: number;
  /** Exit reasons and handlings, by the ids the bins use. */
  strings: string[];
  lanes: SummaryLaneEntry[];
}

export function summaryPayload(
  lanes: { vm: number; vcpu: number; events: number; levels: EncodedLevel[] }[],
  strings: string[],
  crc: (b: Uint8Array) => number,
  utf8: (s: string) => Uint8Array,
): Uint8Array {
  const dir: SummaryDirectory = { version: SUMMARY_VERSION, strings, lanes: [] };
  let offset = 0;
  for (const l of lanes) {
    const levels: SummaryLevelEntry[] = [];
    for (const lv of l.levels) {
      levels.push({ k: lv.k, bins: lv.bins, offset, length: lv.bytes.length, crc32: crc(lv.bytes) });
      offset += lv.bytes.length;
    }
    dir.lanes.push({ vm: l.vm, vcpu: l.vcpu, events: l.events, levels });
  }
  const json = utf8(JSON.stringify(dir));
  const out = new Uint8Array(4 + json.length + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  let at = 4 + json.length;
  for (const l of lanes)
    for (const lv of l.levels) {
      out.set(lv.bytes, at);
      at += lv.bytes.length;
    }
  return out;
}

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

/** The directory of a SUMM payload whose level data is `dataLength` bytes, or a reason it cannot be used. */
export function checkSummaryDirectory(dir: unknown, dataLength: number): SummaryDirectory | string {
  if (!dir || typeof dir !== 'object') return 'its directory is not a JSON object';
  const d = dir as Partial<SummaryDirectory>;
  if (d.version !== SUMMARY_VERSION) return `it is version ${String(d.version)}, this reader reads version ${SUMMARY_VERSION}`;
  if (!Array.isArray(d.strings) || !d.strings.every((s) => typeof s === 'string')) return 'its string table is not a list of strings';
  if (!Array.isArray(d.lanes)) return 'it has no lane list';
  for (const l of d.lanes as unknown[]) {
    const x = l as Partial<SummaryLaneEntry>;
    if (!x || !isNat(x.vm) || !isNat(x.vcpu) || !isNat(x.events) || !Array.isArray(x.levels)) return 'a lane entry is malformed';
    let prevK = -1;
    for (const lv of x.levels as unknown[]) {
      const y = lv as Partial<SummaryLevelEntry>;
      if (!y || !isNat(y.k) || !isNat(y.bins) || !isNat(y.offset) || !isNat(y.length) || !isNat(y.crc32)) return 'a level entry is malformed';
      if (y.k > MAX_LEVEL || y.k % LEVEL_STEP !== 0 || y.k <= prevK) return 'its levels are not on the grid, finest first';
      if (y.offset + y.length > dataLength) return 'a level runs past the end of the chunk';
      prevK = y.k;
    }
  }
  return d as SummaryDirectory;
}
