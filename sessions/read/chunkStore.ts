/**
 * Reading one event chunk on demand: its bytes checked against their checksum, inflated,
 * decoded into events or columns, with the caches that keep recent chunks, and the
 * diagnostics for a chunk found damaged only when it is first read.
 */
import type { MmuEvent } from '../../core/events.ts';
import { SourceError, type ByteSource } from '../byteSource.ts';
import { ChunkDecoder, type ChunkColumns, type FileEventType } from '../codec.ts';
import { CHUNK_OVERHEAD, CODEC, EVTS_PREFIX_BYTES, crc32, fmtInt, readU32, type Diagnostic } from '../format.ts';
import { boundedInflate } from './inflate.ts';
import { inc, ownValue, tally, type ChunkRef, type ChunkStats } from './model.ts';

const CACHE_CHUNKS = 64;
/** Memory for chunk columns (times and exits): the 10-million-event kbuild session needs 150 MB. */
export const COLUMN_CACHE_BYTES = 256 << 20;

export class ChecksumError extends Error {
  constructor() {
    super('its checksum does not match');
  }
}

const EMPTY: ChunkColumns = {
  times: new Float64Array(0),
  exitAt: new Uint32Array(0),
  exitDur: new Float64Array(0),
  exitReason: [],
  exitHandling: [],
};

export class ChunkStore {
  private readonly decoder: ChunkDecoder;
  private readonly cache = new Map<ChunkRef, MmuEvent[]>();
  /** Chunks whose columns are kept, least recently used first, with their sizes. */
  private readonly columnsKept = new Map<ChunkRef, number>();
  private columnsBytes = 0;
  private columnBudget = COLUMN_CACHE_BYTES;

  constructor(
    private readonly src: ByteSource,
    eventTypes: FileEventType[],
    /** The session's diagnostics, which a chunk found damaged on first read adds to. */
    private readonly diagnostics: Diagnostic[],
  ) {
    this.decoder = new ChunkDecoder(eventTypes);
  }

  /** The events of one chunk (cached). A chunk that fails to decode yields [] and a diagnostic. */
  decodeChunk(ch: ChunkRef): MmuEvent[] {
    const hit = this.cache.get(ch);
    if (hit) {
      this.cache.delete(ch);
      this.cache.set(ch, hit);
      return hit;
    }
    let events: MmuEvent[] = [];
    if (!ch.bad) {
      try {
        events = this.decoder.decode(this.body(ch), ch.count, ch.vm, ch.vcpu, ch.tMin);
        let prev = ch.tMin;
        for (const e of events) {
          if (e.t < prev || e.t > ch.tMax) throw new Error('its event times disagree with its time range');
          prev = e.t;
        }
      } catch (e) {
        this.markBad(ch, e);
        events = [];
      }
    }
    this.cache.set(ch, events);
    if (this.cache.size > CACHE_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
    return events;
  }

  /**
   * The payload of a chunk the scan found, read now and checked against its checksum (a
   * trusting open did not read it, and the file may have changed on disk since).
   */
  payload(offset: number, length: number): Uint8Array {
    const whole = this.src.read(offset, length + CHUNK_OVERHEAD - 4);
    if (crc32(whole.subarray(0, 8 + length)) !== readU32(whole, 8 + length)) throw new ChecksumError();
    return whole.subarray(8, 8 + length);
  }

  private body(ch: ChunkRef): Uint8Array {
    const stored = this.payload(ch.offset, ch.length).subarray(EVTS_PREFIX_BYTES);
    const body = ch.codec === CODEC.none ? stored : boundedInflate(stored, ch.rawLength);
    if (!body) throw new Error('its compressed body does not inflate to the declared size');
    return body;
  }

  private markBad(ch: ChunkRef, e: unknown): void {
    if (ch.bad) return;
    ch.bad = true;
    const what = `The events of the chunk at byte ${fmtInt(ch.offset)} (vm ${ch.vm} vcpu ${ch.vcpu}, ${fmtInt(ch.count)} events)`;
    const [code, message] =
      e instanceof ChecksumError
        ? ['damaged_chunk', `${what} fail their checksum: the chunk is damaged and its events are skipped.`]
        : e instanceof SourceError
          ? ['unreadable_chunk', `${what} cannot be read: ${e.message}.`]
          : ['undecodable_chunk', `${what} cannot be decoded: ${(e as Error)?.message ?? String(e)}.`];
    this.diagnostics.push({ severity: 'dataLoss', code, message, byteOffset: ch.offset });
  }

  /**
   * Times and exits of a chunk without building event objects. Kept while the columns of all
   * chunks kept stay within COLUMN_CACHE_BYTES (all of a 10-million-event session's), the least
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
      const cols = this.decoder.scan(this.body(ch), ch.count, ch.tMin);
      let prev = ch.tMin;
      for (const t of cols.times) {
        if (t < prev || t > ch.tMax) throw new Error('its event times disagree with its time range');
        prev = t;
      }
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
    const size = cols.times.byteLength + cols.exitAt.byteLength + cols.exitDur.byteLength + 16 * cols.exitReason.length;
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

  /** Per-chunk statistics, from the index or by decoding. */
  chunkStats(ch: ChunkRef): ChunkStats {
    if (!ch.stats) {
      const st: ChunkStats = { types: tally(), exits: tally(), exitNs: tally(), handlings: tally() };
      for (const e of this.decodeChunk(ch)) {
        inc(st.types, e.type);
        if (e.type !== 'vmexit') continue;
        inc(st.exits, e.reason);
        inc(st.handlings, e.handling);
        const ns = ownValue(st.exitNs, e.reason);
        if (!ns) st.exitNs[e.reason] = [e.duration, e.duration, e.duration];
        else {
          ns[0] += e.duration;
          ns[1] = Math.min(ns[1], e.duration);
          ns[2] = Math.max(ns[2], e.duration);
        }
      }
      ch.stats = st;
    }
    return ch.stats;
  }

  /** The page_walk references of a whole chunk: from the index, else decoded once and kept. */
  chunkWalkRefs(ch: ChunkRef): number {
    if (ch.walkRefs === undefined) {
      let n = 0;
      if ((ownValue(this.chunkStats(ch).types, 'page_walk') ?? 0) > 0) for (const e of this.decodeChunk(ch)) if (e.type === 'page_walk') n += e.refs;
      ch.walkRefs = n;
    }
    return ch.walkRefs;
  }
}
