/**
 * What the session reader knows about a file after its scan (lanes of chunk references), and
 * the shapes it answers queries with. Shared by the reader's modules; no behaviour here.
 */
import type { ChunkColumns } from '../codec.ts';
import type { EvtsPrefix } from '../format.ts';

export interface ChunkRef extends EvtsPrefix {
  /** Byte offset of the chunk (its type field). */
  offset: number;
  /** Payload length. */
  length: number;
  /** Events of the lane before this chunk, as this reader counts them (gaps excluded). */
  ordinal: number;
  stats?: ChunkStats;
  /**
   * Set when the prefix fields were taken from the index (an open from the footer) and not yet
   * compared with the chunk's own prefix: its first read does that.
   */
  unverified?: boolean;
  /** Set when the chunk failed to decode: it then yields no events. */
  bad?: boolean;
  /** Times and exits of the chunk, while kept in the reader's column cache (about 15 bytes per event). */
  cols?: ChunkColumns;
  /** Sum of its page_walk events' `refs`: from the index, or decoded once. */
  walkRefs?: number;
  /** Estimated heap bytes of its decoded events, once it has been decoded. */
  cost?: number;
}

export interface ChunkStats {
  types: Record<string, number>;
  exits: Record<string, number>;
  exitNs: Record<string, [number, number, number]>;
  handlings: Record<string, number>;
}

export interface Lane {
  vm: number;
  vcpu: number;
  chunks: ChunkRef[];
  count: number;
}

export interface VcpuCounts {
  vm: number;
  vcpu: number;
  events: number;
  exits: number;
}

/**
 * How far a cut recording (no footer) can be trusted: each lane holds every event up to the end
 * of its last intact chunk, and all lanes up to the earliest of those times. After it, a lane's
 * events may be missing (they were still in the recorder's buffer when the process died).
 */
export interface Completeness {
  /** Every lane's events are complete up to this time (ns). */
  allLanesNs: number;
  lanes: { vm: number; vcpu: number; events: number; completeNs: number }[];
}

/** Per-vCPU events and exits, events by type and exits by reason, of the whole session. */
export interface WholeCounts {
  vcpus: VcpuCounts[];
  eventsByType: Record<string, number>;
  exitsByReason: Record<string, number>;
}

export interface SummaryData {
  scenarioName: string;
  complete: boolean;
  vms: number;
  vcpus: VcpuCounts[];
  events: number;
  startNs: number;
  endNs: number;
  eventsByType: Record<string, number>;
  exitsByReason: Record<string, number>;
  /** Only for a cut recording (no footer): up to when each lane, and all lanes, are complete. */
  completeness?: Completeness;
  /** What an imported trace cannot tell, in the importer's words (e.g. that it holds no kvm_exit). */
  traceNotes?: string[];
}

/** A vCPU's counts over a range, with the memory references of its TLB-miss walks. */
export interface VcpuRangeCounts extends VcpuCounts {
  /** Sum of `refs` over its page_walk events in the range. */
  walkRefs: number;
}

export interface Counters {
  t0: number;
  t1: number;
  events: number;
  /** Sum of `refs` over the page_walk events in the range (all vCPUs). */
  walkRefs: number;
  eventsByType: Record<string, number>;
  exitsByReason: Record<string, number>;
  exitsByHandling: Record<string, number>;
  exitNsByReason: Record<string, number>;
  exitMinNsByReason: Record<string, number>;
  exitMaxNsByReason: Record<string, number>;
  vcpus: VcpuRangeCounts[];
}

export interface TimelineSlice {
  t0: number;
  t1: number;
  reason: string;
  handling: string;
  index: number;
  count: number;
}
export interface TimelineLane {
  vm: number;
  vcpu: number;
  slices: TimelineSlice[];
  exits: number;
}
export interface Timeline {
  t0: number;
  t1: number;
  lanes: TimelineLane[];
}

export function isNat(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
}

/**
 * A record keyed by names from the data (exit reasons, handlings, event types): no prototype,
 * so `constructor` or `toString` read as absent and `__proto__` is an ordinary key.
 */
export function tally<T = number>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Own keys only: a record parsed from JSON still has Object.prototype behind it. */
export function ownValue<T>(rec: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}

export function inc(rec: Record<string, number>, key: string, by = 1): void {
  const value = (ownValue(rec, key) ?? 0) + by;
  // on a record with a prototype, `rec.__proto__ = n` would hit the setter and be lost
  if (key === '__proto__') Object.defineProperty(rec, key, { value, writable: true, enumerable: true, configurable: true });
  else rec[key] = value;
}
