/**
 * The session's per-lane summaries (sessions/mipmap.ts) as a reader uses them: the levels stored
 * in the SUMM chunk, each read and checked on first use; or, for a file without that chunk (older
 * files, killed recordings) or a lane whose stored levels are damaged, the same levels built once
 * from the lane's chunk columns and kept in memory. A damaged summary is never used: it costs an
 * info diagnostic and the slower way, never a wrong count.
 */
import type { ByteSource } from '../byteSource.ts';
import { CAPS, CHUNK, FormatError, crc32, fmtInt, fromUtf8, readU32, type Diagnostic } from '../format.ts';
import { LaneMipmapBuilder, StringIds, checkSummaryDirectory, type Level, type SummaryLaneEntry } from '../mipmap.ts';
import type { ChunkStore } from './chunkStore.ts';
import type { Lane } from './model.ts';
import { READ_LIMITS } from './limits.ts';
import { DecodedLevels, LevelBins } from './summaryLevel.ts';
import { runSteps, type Steps } from '../views/steps.ts';

/** Decoded bins of a level with the string table their reason and handling ids refer to. */
export interface LaneLevel {
  level: Level;
  strings: readonly string[];
  /** Event type names by the ids the bins use. */
  types: readonly string[];
}

/** A level a query may take bins from (LevelBins.slice), with the tables its ids refer to. */
export interface LaneBins {
  bins: LevelBins;
  strings: readonly string[];
  types: readonly string[];
}

interface Stored {
  entry: SummaryLaneEntry;
  loaded: Map<number, LevelBins>;
}

interface Built {
  levels: LevelBins[];
  strings: string[];
  /** The lane's chunk count when built (a growing file's lane gets more). */
  chunks: number;
}

/** A lane's build under way: the chunks before `next` are in `mip` (a cancelled query's build resumes here). */
interface Partial {
  mip: LaneMipmapBuilder;
  strings: StringIds;
  next: number;
}

/** Chunks in a window from which building a lane's summaries is worth it (else the window is decoded). */
const BUILD_MIN_CHUNKS = 32;

/** Chunks a stepped build adds between two yields (about 16 000 events, as the breakdown's steps). */
const BUILD_SLICE_CHUNKS = 4;

export class Summaries {
  private readonly stored = new Map<Lane, Stored>();
  private strings: string[] = [];
  /** Start of the level data in the file, when a SUMM chunk is used. */
  private dataAt = 0;
  private readonly built = new Map<Lane, Built>();
  private readonly partial = new Map<Lane, Partial>();
  private damaged = false;
  /** The small levels kept decoded, whatever their lane. */
  private readonly decoded = new DecodedLevels(READ_LIMITS.summaryLevelBytes);
  /** Lanes found without a damaged chunk: their chunk count and the store's damaged count then. */
  private readonly cleanAt = new Map<Lane, { chunks: number; bad: number }>();

  constructor(
    private readonly src: ByteSource,
    private readonly lanes: Lane[],
    private readonly store: ChunkStore,
    /** The file's event type names, by type id. */
    private readonly typeNames: readonly string[],
    private readonly diagnostics: Diagnostic[],
    /** Offset of the SUMM chunk, when the file has one. */
    private readonly at: number | undefined,
  ) {
    if (at !== undefined) this.readDirectory(at);
  }

  private readDirectory(at: number): void {
    try {
      const head = this.src.read(at, 12);
      const length = readU32(head, 4);
      const dirLength = readU32(head, 8);
      if (readU32(head, 0) !== CHUNK.SUMM || length > CAPS.maxChunkBytes || dirLength > Math.min(CAPS.maxJsonBytes, length - 4)) throw new Error('its framing does not hold');
      const dirBytes = this.src.read(at + 12, dirLength);
      let parsed: unknown;
      try {
        parsed = JSON.parse(fromUtf8(dirBytes)) as unknown;
      } catch {
        throw new Error('its directory is not JSON');
      }
      const dir = checkSummaryDirectory(parsed, length - 4 - dirLength);
      if (typeof dir === 'string') throw new Error(dir);
      this.strings = dir.strings;
      this.dataAt = at + 12 + dirLength;
      for (const entry of dir.lanes) {
        const lane = this.lanes.find((l) => l.vm === entry.vm && l.vcpu === entry.vcpu);
        // summaries of other events than the lane's (a chunk lost to damage) would count wrong
        if (lane && lane.count === entry.events) this.stored.set(lane, { entry, loaded: new Map() });
      }
    } catch (e) {
      this.damage(at, (e as Error).message);
    }
  }

  private damage(at: number, why: string): void {
    if (this.damaged) return;
    this.damaged = true;
    this.diagnostics.push({
      severity: 'info',
      code: 'summary_damaged',
      message: `The timeline summaries (the chunk at byte ${fmtInt(at)}) cannot be used: ${why}. Timelines are counted from the events instead (slower the first time); no count is affected.`,
      byteOffset: at,
    });
  }

  /** True when no chunk of `lane` is known damaged (every query asks: a 100 M-event lane has 24 000 chunks). */
  private clean(lane: Lane): boolean {
    const c = this.cleanAt.get(lane);
    if (c && c.chunks === lane.chunks.length && c.bad === this.store.badChunks) return true;
    if (lane.chunks.some((ch) => ch.bad)) return false;
    this.cleanAt.set(lane, { chunks: lane.chunks.length, bad: this.store.badChunks });
    return true;
  }

  /**
   * The coarsest level of `lane` whose bins are at most 2^k ns wide, or undefined when there is
   * none (the caller decodes the window's chunks). `windowChunks`: how many of the lane's chunks the
   * query would decode otherwise; a file without summaries builds them only when that is many.
   */
  level(lane: Lane, k: number, windowChunks: number): LaneBins | undefined {
    if (lane.count === 0 || !this.clean(lane)) return undefined;
    const s = this.stored.get(lane);
    if (s) {
      let pick: { k: number; bins: number; offset: number; length: number; crc32: number } | undefined;
      for (const lv of s.entry.levels) if (lv.k <= k) pick = lv;
      if (!pick) return undefined;
      let level = s.loaded.get(pick.k);
      if (!level) {
        try {
          const bytes = this.src.read(this.dataAt + pick.offset, pick.length);
          if (crc32(bytes) !== pick.crc32) throw new Error('a level fails its checksum');
          level = LevelBins.check(pick.k, pick.bins, bytes, this.typeNames.length, this.strings.length, lane.count, this.decoded);
        } catch (e) {
          this.damage(this.dataAt, (e as Error).message);
          this.stored.delete(lane);
          return this.level(lane, k, windowChunks);
        }
        s.loaded.set(pick.k, level);
      }
      return { bins: level, strings: this.strings, types: this.typeNames };
    }
    let b = this.built.get(lane);
    if (!b || b.chunks !== lane.chunks.length) {
      if (!worthBuilding(lane, windowChunks)) return undefined;
      runSteps(this.buildSteps(lane));
      b = this.built.get(lane);
      if (!b) return undefined;
    }
    let pick: LevelBins | undefined;
    for (const lv of b.levels) if (lv.k <= k) pick = lv;
    return pick ? { bins: pick, strings: b.strings, types: this.typeNames } : undefined;
  }

  /**
   * A lane's events per type and exits per reason, from its stored summaries' coarsest level (one
   * bin), or undefined when it has none (the caller uses the index's per-chunk statistics).
   */
  wholeLane(lane: Lane): { types: Map<string, number>; exits: Map<string, number> } | undefined {
    const s = this.stored.get(lane);
    const top = s?.entry.levels[s.entry.levels.length - 1];
    if (!top) return undefined;
    const ll = this.level(lane, top.k, 0);
    if (!ll) return undefined;
    const { level: lv, binFrom, binTo } = ll.bins.slice(0, Infinity);
    const types = new Map<string, number>();
    const exits = new Map<string, number>();
    for (let b = binFrom; b < binTo; b++) {
      for (let j = lv.typeStart[b]!; j < lv.typeStart[b + 1]!; j++) {
        const name = this.typeNames[lv.typeId[j]!]!;
        types.set(name, (types.get(name) ?? 0) + lv.typeN[j]!);
      }
      for (let j = lv.reasonStart[b]!; j < lv.reasonStart[b + 1]!; j++) {
        const reason = ll.strings[lv.reasonId[j]!]!;
        exits.set(reason, (exits.get(reason) ?? 0) + lv.reasonN[j]!);
      }
    }
    return { types, exits };
  }

  /**
   * Builds, in steps, the summaries `level` would build for a query over [t0, t1] (none when the
   * file has them, or they are built), yielding the fraction of their chunks read so far: a query
   * runs this first so that it reports progress and a Cancel stops it (runStepsYielding).
   */
  *build(t0: number, t1: number): Steps<void> {
    const lanes: Lane[] = [];
    let total = 0;
    for (const lane of this.lanes) {
      if (lane.count === 0 || this.stored.has(lane) || !this.clean(lane)) continue;
      if (this.built.get(lane)?.chunks === lane.chunks.length) continue;
      let window = 0;
      for (const ch of lane.chunks) if (ch.tMax >= t0 && ch.tMin <= t1) window++;
      if (window === 0 || !worthBuilding(lane, window)) continue;
      lanes.push(lane);
      total += lane.chunks.length - (this.partial.get(lane)?.next ?? 0);
    }
    let read = 0;
    for (const lane of lanes) {
      for (const n of this.buildSteps(lane)) {
        read += n ?? 0;
        yield read / Math.max(1, total);
      }
    }
  }

  /**
   * The lane's levels from its chunks' columns, as the writer would have stored them, yielding
   * every few chunks how many it read since the last yield. Stopped (a cancelled query), the
   * chunks read stay in a partial build that the next build of the lane goes on from; only a
   * finished build is used.
   */
  private *buildSteps(lane: Lane): Steps<void> {
    if (this.built.get(lane)?.chunks === lane.chunks.length) return;
    let p = this.partial.get(lane);
    if (!p) this.partial.set(lane, (p = { mip: new LaneMipmapBuilder(), strings: new StringIds(), next: 0 }));
    const { mip, strings } = p;
    let read = 0;
    // two queries may build the same lane at once (a timeline and its density): they share the
    // partial build, each chunk added once; the one that reads the last chunk finishes it
    while (p.next < lane.chunks.length) {
      if (this.partial.get(lane) !== p) return;
      const ch = lane.chunks[p.next]!;
      const cols = this.store.columns(ch);
      if (ch.bad) {
        // a chunk found damaged: the lane is counted from its events (see level)
        this.partial.delete(lane);
        return;
      }
      let x = 0;
      for (let i = 0; i < cols.times.length; i++) {
        if (x < cols.exitAt.length && cols.exitAt[x] === i) {
          mip.add(cols.times[i]!, cols.typeIds[i]!, cols.exitDur[x]!, strings.id(cols.exitReason[x]!), strings.id(cols.exitHandling[x]!));
          x++;
        } else mip.add(cols.times[i]!, cols.typeIds[i]!);
      }
      p.next++;
      if (++read === BUILD_SLICE_CHUNKS && p.next < lane.chunks.length) {
        yield read;
        read = 0;
      }
    }
    if (this.partial.get(lane) !== p) return;
    this.partial.delete(lane);
    let levels: LevelBins[];
    try {
      levels = mip.finish().map((lv) => LevelBins.check(lv.k, lv.bins, lv.bytes, this.typeNames.length, strings.list.length, mip.events, this.decoded));
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      // a damaged chunk can still decode to times or durations whose sums a summary cannot hold
      // (past 2^53): the lane gets no levels, so it is counted from its events, as a bad chunk's is
      levels = [];
    }
    this.built.set(lane, { levels, strings: strings.list, chunks: lane.chunks.length });
  }
}

function worthBuilding(lane: Lane, windowChunks: number): boolean {
  return windowChunks >= BUILD_MIN_CHUNKS || windowChunks * 4 >= lane.chunks.length;
}
