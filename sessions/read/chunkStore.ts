/**
 * Reading one event chunk on demand: its bytes checked against their checksum, inflated,
 * decoded into events or columns, with the caches that keep recent chunks, and the
 * diagnostics for a chunk found damaged only when it is first read.
 */
import type { MmuEvent } from '../../core/events.ts';
import { SourceError, type ByteSource } from '../byteSource.ts';
import { ChunkDecoder, ChunkStream, ChunkTooLarge, type ChunkColumns, type FileEventType } from '../codec.ts';
import { CHUNK, CHUNK_OVERHEAD, CODEC, EVTS_PREFIX_BYTES, chunkTypeName, crc32, fmtInt, readEvtsPrefix, readU32, type Diagnostic, type EvtsPrefix } from '../format.ts';
import { boundedInflate } from './inflate.ts';
import { READ_LIMITS } from './limits.ts';
import { inc, ownValue, tally, type ChunkRef, type ChunkStats } from './model.ts';

export class ChecksumError extends Error {
  constructor() {
    super('its checksum does not match');
  }
}

/** The bytes at a chunk's place are not framed as the open found (or the index said) they would be. */
export class FramingError extends Error {}

/** A checksummed event chunk whose prefix says other than its (checksummed) index entry. */
export class IndexMismatchError extends Error {}

/** The prefix fields an index entry vouches for, compared with the chunk's own on its first read. */
const PREFIX_FIELDS = ['vm', 'vcpu', 'seq', 'firstOrdinal', 'count', 'rawLength', 'tMin', 'tMax', 'spanEnd', 'codec'] as const satisfies readonly (keyof EvtsPrefix)[];

const EMPTY: ChunkColumns = {
  times: new Float64Array(0),
  typeIds: new Uint16Array(0),
  exitAt: new Uint32Array(0),
  exitDur: new Float64Array(0),
  exitReason: [],
  exitHandling: [],
  typeCounts: new Uint32Array(0),
  walkRefs: 0,
};

export class ChunkStore {
  private readonly decoder: ChunkDecoder;
  private readonly typeNames: string[];
  /** Decoded chunks, least recently used first; their sizes are the chunks' `cost`. */
  private readonly cache = new Map<ChunkRef, MmuEvent[]>();
  private cacheBytes = 0;
  /** Chunks whose columns are kept, least recently used first, with their sizes. */
  private readonly columnsKept = new Map<ChunkRef, number>();
  private columnsBytes = 0;
  private columnBudget: number = READ_LIMITS.columnCacheBytes;

  constructor(
    private readonly src: ByteSource,
    eventTypes: FileEventType[],
    /** The session's diagnostics, which a chunk found damaged on first read adds to. */
    private readonly diagnostics: Diagnostic[],
  ) {
    this.decoder = new ChunkDecoder(eventTypes);
    this.typeNames = eventTypes.map((t) => t.name);
  }

  /**
   * The events of one chunk (cached within READ_LIMITS.eventCacheBytes). A chunk that fails to
   * decode, or whose events would take more than READ_LIMITS.chunkDecodeBytes, yields [] and a
   * diagnostic. With a smaller `budget` (a merge's remaining room), a chunk that fits the chunk
   * limit but not the budget throws ChunkTooLarge instead: the caller is over its budget, the
   * chunk is fine. Its decoded size is left in `ch.cost`. With `keep` false the events are not
   * added to the cache: a caller that reads them once (counting) lets them die young instead of
   * ageing in the cache, then lingering as garbage in the old generation once dropped from it.
   */
  decodeChunk(ch: ChunkRef, budget: number = READ_LIMITS.chunkDecodeBytes, keep = true): MmuEvent[] {
    const hit = this.cache.get(ch);
    if (hit) {
      this.cache.delete(ch);
      this.cache.set(ch, hit);
      return hit;
    }
    if (ch.bad) return [];
    const limit = Math.min(budget, READ_LIMITS.chunkDecodeBytes);
    if (ch.cost !== undefined && ch.cost > limit) throw new ChunkTooLarge(limit);
    let events: MmuEvent[];
    try {
      const cost = { bytes: 0 };
      events = this.decoder.decode(this.body(ch), ch.count, ch.vm, ch.vcpu, ch.tMin, limit, cost);
      let prev = ch.tMin;
      for (const e of events) {
        if (e.t < prev || e.t > ch.tMax) throw new Error('its event times disagree with its time range');
        prev = e.t;
      }
      ch.cost = cost.bytes;
    } catch (e) {
      if (e instanceof ChunkTooLarge && limit < READ_LIMITS.chunkDecodeBytes) throw e;
      this.markBad(ch, e);
      return [];
    }
    if (keep && ch.cost <= READ_LIMITS.eventCacheBytes) {
      this.cache.set(ch, events);
      this.cacheBytes += ch.cost;
      for (const [old] of this.cache) {
        if (this.cacheBytes <= READ_LIMITS.eventCacheBytes) break;
        this.cache.delete(old);
        this.cacheBytes -= old.cost ?? 0;
      }
    }
    return events;
  }

  /** The decoded events of a chunk if they are in the cache (without decoding it). */
  cached(ch: ChunkRef): MmuEvent[] | undefined {
    return this.cache.get(ch);
  }

  /**
   * A chunk's events a batch at a time (see ChunkStream), for a merge that cannot hold them all.
   * The chunk is checked whole first (without building events), so a damaged one yields no
   * events at all, as `decodeChunk` would; undefined then. The body's bytes are `held`.
   */
  stream(ch: ChunkRef): { stream: ChunkStream; held: number } | undefined {
    this.check(ch);
    if (ch.bad) return undefined;
    try {
      const body = this.body(ch);
      return { stream: new ChunkStream(this.decoder, body, ch.count, ch.vm, ch.vcpu, ch.tMin, READ_LIMITS.chunkDecodeBytes), held: body.byteLength };
    } catch (e) {
      this.markBad(ch, e);
      return undefined;
    }
  }

  /** Bytes of decoded chunks kept now (estimated) and how many. */
  get eventCache(): { bytes: number; chunks: number; budget: number } {
    return { bytes: this.cacheBytes, chunks: this.cache.size, budget: READ_LIMITS.eventCacheBytes };
  }

  /**
   * The payload of a chunk the open found, read now and checked: its type (when given) and both
   * lengths where the open placed it, and its checksum (a trusting open did not read it, and the
   * file may have changed on disk since).
   */
  payload(offset: number, length: number, type?: number): Uint8Array {
    const whole = this.src.read(offset, length + CHUNK_OVERHEAD);
    const found = whole.length >= 8 ? readU32(whole, 0) : -1;
    if (whole.length < length + CHUNK_OVERHEAD || readU32(whole, 4) !== length || readU32(whole, 12 + length) !== length || (type !== undefined && found !== type))
      throw new FramingError(
        type !== undefined && found !== type && whole.length >= 8
          ? `no ${chunkTypeName(type)} chunk starts there (the bytes say "${chunkTypeName(found)}")`
          : `its framing does not hold a chunk of ${fmtInt(length)} bytes there`,
      );
    if (crc32(whole.subarray(0, 8 + length)) !== readU32(whole, 8 + length)) throw new ChecksumError();
    return whole.subarray(8, 8 + length);
  }

  /**
   * An event chunk's payload, checked; on its first read after an open from the footer, its
   * prefix is also compared with what the index said of it (the open used the index's values).
   */
  private evtsPayload(ch: ChunkRef): Uint8Array {
    const payload = this.payload(ch.offset, ch.length, CHUNK.EVTS);
    if (ch.unverified) {
      if (payload.length < EVTS_PREFIX_BYTES) throw new FramingError('it is too short to hold an event chunk prefix');
      const own = readEvtsPrefix(payload, 0);
      const differ = PREFIX_FIELDS.filter((f) => own[f] !== ch[f]);
      if (differ.length)
        throw new IndexMismatchError(`its prefix disagrees with the session's index (${differ.map((f) => `${f} ${own[f]} in the chunk, ${ch[f]} in the index`).join('; ')})`);
      ch.unverified = false;
    }
    return payload;
  }

  /** Read a chunk and check its checksum only (no inflate, no decode); damage is reported as on first use. */
  checksum(ch: ChunkRef): void {
    if (ch.bad) return;
    try {
      this.evtsPayload(ch);
    } catch (e) {
      this.markBad(ch, e);
    }
  }

  private body(ch: ChunkRef): Uint8Array {
    const stored = this.evtsPayload(ch).subarray(EVTS_PREFIX_BYTES);
    const body = ch.codec === CODEC.none ? stored : boundedInflate(stored, ch.rawLength);
    if (!body) throw new Error('its compressed body does not inflate to the declared size');
    return body;
  }

  /** Chunks found damaged so far (a change tells a caller that cached "no damaged chunk" may no longer hold). */
  badChunks = 0;

  private markBad(ch: ChunkRef, e: unknown): void {
    if (ch.bad) return;
    ch.bad = true;
    this.badChunks++;
    const what = `The events of the chunk at byte ${fmtInt(ch.offset)} (vm ${ch.vm} vcpu ${ch.vcpu}, ${fmtInt(ch.count)} events)`;
    const [code, message] =
      e instanceof ChecksumError
        ? ['damaged_chunk', `${what} fail their checksum: the chunk is damaged and its events are skipped.`]
        : e instanceof FramingError
          ? ['damaged_chunk', `${what} cannot be read: ${e.message}; the chunk is damaged and its events are skipped.`]
          : e instanceof IndexMismatchError
            ? ['index_mismatch', `${what} are skipped: ${e.message}, so the file was changed after it was written.`]
            : e instanceof SourceError
          ? ['unreadable_chunk', `${what} cannot be read: ${e.message}.`]
          : e instanceof ChunkTooLarge
            ? ['chunk_too_large', `${what} are skipped: ${e.message}, more than the reader allows for one chunk (a session written by MMU Lab never needs this).`]
            : ['undecodable_chunk', `${what} cannot be decoded: ${(e as Error)?.message ?? String(e)}.`];
    this.diagnostics.push({ severity: 'dataLoss', code, message, byteOffset: ch.offset });
  }

  /**
   * Times and exits of a chunk without building event objects. Kept while the columns of all
   * chunks kept stay within READ_LIMITS.columnCacheBytes (all of a 10-million-event session's), the least
   * recently used dropped beyond it.
   */
  columns(ch: ChunkRef): ChunkColumns {
    const kept = ch.cols;
    if (kept) {
      const size = this.columnsKept.get(ch)!;
      this.columnsKept.delete(ch);
      this.columnsKept.set(ch, size);
      return kept;
    }
    if (ch.bad) return EMPTY;
    try {
      const cols = this.decoder.scan(this.body(ch), ch.count, ch.tMin, READ_LIMITS.chunkDecodeBytes);
      checkTimes(ch, cols.times);
      this.keepColumns(ch, cols);
      return cols;
    } catch (e) {
      this.markBad(ch, e);
      return EMPTY;
    }
  }

  /** Bytes of chunk columns kept now, and the most that may be kept (settable, for a host short of memory). */
  get columnCache(): { bytes: number; chunks: number; budget: number } {
    return { bytes: this.columnsBytes, chunks: this.columnsKept.size, budget: this.columnBudget };
  }
  set columnCacheBudget(bytes: number) {
    this.columnBudget = Math.max(0, bytes);
  }

  private keepColumns(ch: ChunkRef, cols: ChunkColumns): void {
    // two string references per exit besides the typed arrays
    const size = cols.times.byteLength + cols.typeIds.byteLength + cols.exitAt.byteLength + cols.exitDur.byteLength + cols.typeCounts.byteLength + 16 * cols.exitReason.length;
    ch.cols = cols;
    this.columnsKept.set(ch, size);
    this.columnsBytes += size;
    for (const [old, oldSize] of this.columnsKept) {
      if (this.columnsBytes <= this.columnBudget || old === ch) break;
      old.cols = undefined;
      this.columnsKept.delete(old);
      this.columnsBytes -= oldSize;
    }
  }

  private pendingStats: (() => void) | undefined;

  /** Statistics that `load` applies to the chunks (an index not parsed at open), run when any chunk's are first needed. */
  deferStats(load: () => void): void {
    this.pendingStats = load;
  }

  /** A chunk's statistics if the index has them (loading a deferred index), without reading the chunk. */
  indexedStats(ch: ChunkRef): ChunkStats | undefined {
    if (!ch.stats && this.pendingStats) {
      const load = this.pendingStats;
      this.pendingStats = undefined;
      load();
    }
    return ch.stats;
  }

  /** Per-chunk statistics, from the index or from the chunk's columns (no event objects are built). */
  chunkStats(ch: ChunkRef): ChunkStats {
    const indexed = this.indexedStats(ch);
    if (indexed) return indexed;
    const cols = this.columns(ch);
    const st: ChunkStats = { types: tally(), exits: tally(), exitNs: tally(), handlings: tally() };
    cols.typeCounts.forEach((n, id) => {
      if (n > 0) inc(st.types, this.typeNames[id]!, n);
    });
    for (let k = 0; k < cols.exitAt.length; k++) {
      const reason = cols.exitReason[k]!;
      const d = cols.exitDur[k]!;
      inc(st.exits, reason);
      inc(st.handlings, cols.exitHandling[k]!);
      const ns = ownValue(st.exitNs, reason);
      if (!ns) st.exitNs[reason] = [d, d, d];
      else {
        ns[0] += d;
        ns[1] = Math.min(ns[1], d);
        ns[2] = Math.max(ns[2], d);
      }
    }
    ch.stats = st;
    ch.walkRefs ??= cols.walkRefs;
    return st;
  }

  /** The page_walk references of a whole chunk: from the index, else from its columns. */
  chunkWalkRefs(ch: ChunkRef): number {
    if (ch.walkRefs === undefined) ch.walkRefs = this.columns(ch).walkRefs;
    return ch.walkRefs;
  }

  /**
   * Read, check and walk a chunk without keeping anything (what `mmu-lab verify` does to every
   * chunk): a damaged or undecodable chunk is marked and reported as on first use.
   */
  check(ch: ChunkRef): void {
    if (ch.cols || ch.bad) return;
    try {
      const cols = this.decoder.scan(this.body(ch), ch.count, ch.tMin, READ_LIMITS.chunkDecodeBytes);
      checkTimes(ch, cols.times);
    } catch (e) {
      this.markBad(ch, e);
    }
  }
}

/** Throws unless the event times run from the chunk's tMin to its tMax without decreasing. */
function checkTimes(ch: ChunkRef, times: Float64Array): void {
  let prev = ch.tMin;
  for (const t of times) {
    if (t < prev || t > ch.tMax) throw new Error('its event times disagree with its time range');
    prev = t;
  }
}
