/**
 * The session writer: streams events into an append-only `.mmulab` file.
 *
 * Events are buffered per (vm, vcpu) lane and written as one checksummed EVTS chunk every
 * few thousand events, so memory stays bounded however long the recording, and a process
 * killed at any moment leaves a file that opens up to its last complete chunk (the bytes
 * of every `writeSync` are in the kernel's page cache the moment it returns).
 */
import { closeSync, lstatSync, openSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { deflateRawSync, constants as zc } from 'node:zlib';
import { EVENT_TYPES, type EventOf, type MmuEvent } from '../core/events.ts';
import { currentTypeTable } from './codec.ts';
import { LaneEncoder } from './laneEncoder.ts';
import { LaneMipmapBuilder, StringIds, summaryPayload } from './mipmap.ts';
import { chunkListPayload, sessionTotals, type ListedChunk } from './chunkList.ts';
import {
  CHUNK,
  CODEC,
  EVTS_PREFIX_BYTES,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  MIN_READER_VERSION,
  PREAMBLE_BYTES,
  CAPS,
  crc32,
  fmtInt,
  frameChunk,
  preamble,
  utf8,
  writeEvtsPrefix,
  writeU32,
} from './format.ts';

export const PRODUCER = 'mmu-lab 0.1.0';

/** What the caller knows about a recording when it starts. */
export interface SessionHeaderInput {
  /** The scenario as parsed by core/scenario.ts (stored verbatim as JSON). */
  scenario: unknown;
  producer?: string;
  /** Defaults to `scenario.seed`. */
  seed?: number;
  /** vCPUs of each VM; defaults to `scenario.vms[i].vcpus`. */
  vcpus?: number[];
  /** Feature/quirk flags, merged over the defaults (see docs/session-format.md). */
  features?: Record<string, boolean | number | string>;
}

/** The header as stored in the HEAD chunk. */
export interface SessionHeader {
  formatMajor: number;
  formatMinor: number;
  minReaderVersion: number;
  producer: string;
  scenarioName: string;
  scenario: unknown;
  /** CRC-32 of the scenario's JSON text, as 8 hex digits: a quick "same scenario?" check. */
  scenarioCrc32: string;
  seed: number;
  vms: number;
  vcpus: number[];
  features: Record<string, boolean | number | string>;
  eventTypes: ReturnType<typeof currentTypeTable>;
}

export const DEFAULT_FEATURES: Record<string, boolean | number | string> = {
  /** Compression of EVTS bodies (per chunk, see the codec byte). */
  compression: 'deflate',
  /** Periodic keyframes of page-table state: not written yet. */
  keyframes: false,
  /** Within a lane, t never decreases. */
  laneTimeMonotonic: true,
};

export interface IndexEntry {
  offset: number;
  vm: number;
  vcpu: number;
  seq: number;
  count: number;
  t0: number;
  t1: number;
  spanEnd: number;
  /** The chunk's payload length, and its prefix's rawLength and codec (format 1.2; absent in older files). */
  length?: number;
  rawLength?: number;
  codec?: number;
  types: Record<string, number>;
  exits: Record<string, number>;
  /** Per exit reason: [total ns, min ns, max ns]. */
  exitNs: Record<string, [number, number, number]>;
  handlings: Record<string, number>;
  /** Sum of the page_walk events' `refs` (memory references of TLB-miss walks); absent in older files. */
  walkRefs?: number;
}

export interface WriterOptions {
  /** Events per lane before its chunk is written (default 4096). */
  chunkEvents?: number;
  /** Deflate level 0..9 (default 1: the larger levels gain a few percent for half the speed); 0 stores bodies uncompressed. */
  level?: number;
  /**
   * Bytes of room left in the header after its JSON (blanks, which JSON allows), so that
   * `rewriteHeader` can replace it later with a longer one (default 0).
   */
  headerRoom?: number;
  /**
   * Most wall-clock milliseconds an event may wait in a lane's buffer while events keep coming
   * (default 250): a crash then loses at most that much, or `chunkEvents` events, of any lane.
   */
  flushMs?: number;
  /**
   * Write under `<path>.part` and rename to `path` when `close` succeeds, so the name appears only
   * for a finished file (default false: the kill test and live readers open `path` while it grows).
   */
  atomic?: boolean;
}

/**
 * Writing failed (a full disk, a quota, an I/O error): the message says what happened and what
 * the file holds. Events written before stay readable; the file has no footer, so every reader
 * reports it as an incomplete recording.
 */
export class SessionWriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'SessionWriteError';
  }
}

function writeFailure(e: unknown): { code: string | undefined; reason: string } {
  const code = (e as { code?: string })?.code;
  const reason = code === 'ENOSPC' ? 'the disk is full' : code === 'EDQUOT' ? 'the disk quota is exceeded' : code === 'EFBIG' ? 'the file is too large for this file system' : `${code ?? (e as Error)?.message ?? 'error'}`;
  return { code, reason };
}

/** Type ids (the header's table is EVENT_TYPES in order) of the events whose fields the index and summaries count. */
const PAGE_WALK = EVENT_TYPES.indexOf('page_walk');
const VMEXIT = EVENT_TYPES.indexOf('vmexit');

/** Appends between two looks at the clock for `flushMs` (a clock read per event would cost 5 % of the write speed). */
const CLOCK_EVERY = 256;

interface Lane {
  vm: number;
  vcpu: number;
  enc: LaneEncoder;
  seq: number;
  ordinal: number;
  /** page_walk references in the events buffered for the next chunk. */
  walkRefs: number;
  /** The lane's summaries, built as events arrive and written at close (the SUMM chunk). */
  mip: LaneMipmapBuilder;
}

function buildHeader(input: SessionHeaderInput): SessionHeader {
  const sc = (input.scenario ?? {}) as { name?: unknown; seed?: unknown; vms?: unknown };
  const vcpus =
    input.vcpus ??
    (Array.isArray(sc.vms) ? (sc.vms as { vcpus?: unknown }[]).map((v) => (typeof v?.vcpus === 'number' ? v.vcpus : 1)) : [1]);
  if (vcpus.length < 1 || vcpus.length > CAPS.maxVms) throw new RangeError(`a session has 1..${CAPS.maxVms} VMs`);
  for (const n of vcpus)
    if (!Number.isInteger(n) || n < 1 || n > CAPS.maxVcpusPerVm) throw new RangeError(`a VM has 1..${CAPS.maxVcpusPerVm} vCPUs`);
  const scenarioText = JSON.stringify(input.scenario ?? null);
  return {
    formatMajor: FORMAT_MAJOR,
    formatMinor: FORMAT_MINOR,
    minReaderVersion: MIN_READER_VERSION,
    producer: input.producer ?? PRODUCER,
    scenarioName: typeof sc.name === 'string' ? sc.name : '',
    scenario: input.scenario ?? null,
    scenarioCrc32: crc32(utf8(scenarioText)).toString(16).padStart(8, '0'),
    seed: input.seed ?? (typeof sc.seed === 'number' ? sc.seed : 0),
    vms: vcpus.length,
    vcpus,
    features: { ...DEFAULT_FEATURES, ...(input.features ?? {}) },
    eventTypes: currentTypeTable(),
  };
}

/** `json` followed by blanks up to `size` bytes. */
function padded(json: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size).fill(0x20);
  out.set(json);
  return out;
}

export class SessionWriter {
  private readonly lanes: (Lane | undefined)[][];
  private readonly index: IndexEntry[] = [];
  private offset = 0;
  private events = 0;
  private finalNs = 0;
  private closed = false;
  /** Set when a write failed: every later call throws it. */
  private failure: SessionWriteError | undefined;
  /** The name the file gets at close, and the one it is written under (the same unless atomic). */
  private path = '';
  /** Events in event chunks whose write returned (what a reader finds after a crash). */
  private written = 0;
  private writing = '';
  private readonly chunkEvents: number;
  private readonly flushMs: number;
  /** When every lane was last flushed (ms), and appends until the next look at the clock. */
  private flushedAt = Date.now();
  private untilClock = CLOCK_EVERY;
  private readonly level: number;
  /** Payload bytes of the HEAD chunk (its JSON and the room after it). */
  private headBytes = 0;
  /** Encoded texts of every lane (see LaneEncoder). */
  private readonly texts = new Map<string, Uint8Array>();
  /** The exit reasons and handlings the summaries name. */
  private readonly strings = new StringIds();

  private constructor(
    private readonly fd: number,
    private hdr: SessionHeader,
    options: WriterOptions,
  ) {
    this.lanes = hdr.vcpus.map((n) => new Array<Lane | undefined>(n).fill(undefined));
    this.chunkEvents = Math.max(1, Math.min(options.chunkEvents ?? 4096, CAPS.maxEventsPerChunk));
    this.level = Math.max(0, Math.min(9, options.level ?? 1));
    this.flushMs = Math.max(0, options.flushMs ?? 250);
  }

  /** Create (or truncate) `path` and write the preamble and header. Synchronous. */
  static create(path: string, input: SessionHeaderInput, options: WriterOptions = {}): SessionWriter {
    const header = buildHeader(input);
    const writing = options.atomic ? `${path}.part` : path;
    const fd = openFresh(writing);
    const w = new SessionWriter(fd, header, options);
    w.path = path;
    w.writing = writing;
    try {
      w.write(preamble());
      const json = utf8(JSON.stringify(header));
      const room = Math.max(0, Math.floor(options.headerRoom ?? 0));
      w.headBytes = json.length + room;
      w.write(frameChunk(CHUNK.HEAD, room ? padded(json, w.headBytes) : json));
    } catch (e) {
      if (w.failure) throw w.failure;
      closeSync(fd);
      throw e;
    }
    return w;
  }

  get header(): SessionHeader {
    return this.hdr;
  }

  /**
   * Replace the header (written at creation, at offset 16) with one built from `input`, for a
   * producer that learns part of its scenario while it writes (an import's line counts). The
   * VMs and vCPUs must stay the same. Returns false, changing nothing, when the new header does
   * not fit the room the old one left (`headerRoom`).
   */
  rewriteHeader(input: SessionHeaderInput): boolean {
    if (this.closed) throw new Error('the session writer is closed');
    const header = buildHeader(input);
    if (header.vcpus.length !== this.hdr.vcpus.length || header.vcpus.some((n, i) => n !== this.hdr.vcpus[i]))
      throw new RangeError('a rewritten header must keep the VMs and vCPUs');
    const json = utf8(JSON.stringify(header));
    if (json.length > this.headBytes) return false;
    const chunk = frameChunk(CHUNK.HEAD, padded(json, this.headBytes));
    let done = 0;
    while (done < chunk.length) done += writeSync(this.fd, chunk, done, chunk.length - done, PREAMBLE_BYTES + done);
    this.hdr = header;
    return true;
  }

  get eventCount(): number {
    return this.events;
  }

  private write(bytes: Uint8Array): void {
    if (this.failure) throw this.failure;
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.offset + done);
    } catch (e) {
      this.fail(e);
    }
    this.offset += bytes.length;
  }

  /**
   * A write failed: close the file, leave it under its final name marked incomplete (no footer)
   * if it holds anything recorded, else remove it; then throw a message that says so.
   */
  private fail(e: unknown): never {
    const { code, reason } = writeFailure(e);
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already failing; the message below is what matters
    }
    const recorded = this.written > 0;
    let where = this.writing;
    try {
      if (!recorded) rmSync(this.writing, { force: true });
      else if (this.writing !== this.path) {
        renameSync(this.writing, this.path);
        where = this.path;
      }
    } catch {
      // the partial file stays where it is; the message names it
    }
    this.failure = new SessionWriteError(
      recorded
        ? `Writing ${where} failed (${reason}) after ${fmtInt(this.events)} events: the file holds the ${fmtInt(this.written)} events written before and is marked incomplete (it has no footer; readers say the recording did not finish).`
        : `Writing ${this.path} failed (${reason}) before any event was written; no file was left.`,
      code,
    );
    throw this.failure;
  }


  /** Add one event. Throws (a producer bug) on an unknown vm/vcpu or a time that goes backwards in a lane. */
  append(event: MmuEvent): void {
    let lane = this.lanes[event.vm]?.[event.vcpu];
    if (lane === undefined || this.closed) lane = this.openLane(event);
    // (the encoder's type ids are the header's: both are currentTypeTable()'s; it checks the time)
    const typeId = lane.enc.add(event);
    const t = event.t;
    if (typeId === PAGE_WALK) lane.walkRefs += (event as EventOf<'page_walk'>).refs;
    if (typeId === VMEXIT) {
      const x = event as EventOf<'vmexit'>;
      lane.mip.add(t, typeId, x.duration, this.strings.id(x.reason), this.strings.id(x.handling));
    } else lane.mip.add(t, typeId);
    this.events++;
    if (t > this.finalNs) this.finalNs = t;
    const full = lane.enc.count >= this.chunkEvents || lane.enc.events.pos >= 1 << 20;
    if (--this.untilClock <= 0 || full) this.afterAppend(lane, full);
  }

  /**
   * append's rarer work: a full lane's chunk, a look at the clock. One call for both, made every
   * CLOCK_EVERY appends from the first ones on: code V8 optimized before a lane first filled up
   * then has the call's type feedback and is not thrown away there (a call of flushLane itself
   * from append would be, at each import's first full lane).
   */
  private afterAppend(lane: Lane, full: boolean): void {
    if (full) this.flushLane(lane);
    if (this.untilClock <= 0) {
      this.untilClock = CLOCK_EVERY;
      if (Date.now() - this.flushedAt >= this.flushMs) this.flush();
    }
  }

  /** The lane of an event whose lane `append` did not find (its first, or one this session does not have), after the checks. */
  private openLane(event: MmuEvent): Lane {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('the session writer is closed');
    const row = this.lanes[event.vm];
    if (!row || !Number.isInteger(event.vcpu) || event.vcpu < 0 || event.vcpu >= row.length)
      throw new RangeError(`event for vm ${event.vm} vcpu ${event.vcpu}, which this session does not have`);
    let lane = row[event.vcpu];
    if (!lane) {
      lane = { vm: event.vm, vcpu: event.vcpu, enc: new LaneEncoder(this.texts), seq: 0, ordinal: 0, walkRefs: 0, mip: new LaneMipmapBuilder() };
      row[event.vcpu] = lane;
    }
    return lane;
  }

  private flushLane(lane: Lane): void {
    const enc = lane.enc;
    if (enc.count === 0) return;
    const body = enc.body();
    let stored = body;
    let codec: number = CODEC.none;
    if (this.level > 0) {
      const z = deflateRawSync(body, { level: this.level, strategy: zc.Z_DEFAULT_STRATEGY });
      if (z.length < body.length) {
        stored = z;
        codec = CODEC.deflate;
      }
    }
    const payload = new Uint8Array(EVTS_PREFIX_BYTES + stored.length);
    writeEvtsPrefix(payload, {
      vm: lane.vm,
      vcpu: lane.vcpu,
      seq: lane.seq,
      firstOrdinal: lane.ordinal,
      count: enc.count,
      tMin: enc.tMin,
      tMax: enc.tMax,
      spanEnd: enc.spanEnd,
      codec,
      rawLength: body.length,
    });
    payload.set(stored, EVTS_PREFIX_BYTES);
    this.index.push({
      offset: this.offset,
      vm: lane.vm,
      vcpu: lane.vcpu,
      seq: lane.seq,
      count: enc.count,
      t0: enc.tMin,
      t1: enc.tMax,
      spanEnd: enc.spanEnd,
      length: payload.length,
      rawLength: body.length,
      codec,
      types: Object.fromEntries(enc.typeCounts),
      exits: Object.fromEntries(enc.exitReasons),
      exitNs: Object.fromEntries(enc.exitNs),
      handlings: Object.fromEntries(enc.exitHandlings),
      walkRefs: lane.walkRefs,
    });
    lane.walkRefs = 0;
    this.write(frameChunk(CHUNK.EVTS, payload));
    this.written += enc.count;
    lane.seq++;
    lane.ordinal += enc.count;
    enc.reset();
  }

  /** Write every lane's buffered events as chunks. */
  flush(): void {
    for (const row of this.lanes) for (const lane of row) if (lane) this.flushLane(lane);
    this.flushedAt = Date.now();
  }

  /** The SUMM chunk's payload: every lane's summary levels (sessions/mipmap.ts). */
  private summaries(): Uint8Array {
    const lanes: Parameters<typeof summaryPayload>[0] = [];
    for (const row of this.lanes)
      for (const lane of row) if (lane) lanes.push({ vm: lane.vm, vcpu: lane.vcpu, events: lane.mip.events, levels: lane.mip.finish() });
    return summaryPayload(lanes, this.strings.list, (b) => crc32(b), utf8);
  }

  /**
   * Flush, write the summaries, the index and the footer, and close the file. `complete: false` records a
   * run that was stopped or failed (with `message` saying why); the events are all there.
   */
  close(options: { complete: boolean; message?: string } = { complete: true }): void {
    if (this.closed) return;
    try {
      this.flush();
      const summaryOffset = this.offset;
      this.write(frameChunk(CHUNK.SUMM, this.summaries()));
      const indexOffset = this.offset;
      const json = utf8(JSON.stringify({ chunks: this.index }));
      const z = deflateRawSync(json, { level: 6 });
      const payload = new Uint8Array(4 + z.length);
      writeU32(payload, 0, json.length);
      payload.set(z, 4);
      this.write(frameChunk(CHUNK.INDX, payload));
      // the chunk list in binary, and the whole-session counts: an open from the footer needs neither the index's JSON nor a walk
      const chunkListOffset = this.offset;
      this.write(frameChunk(CHUNK.CLST, chunkListPayload(this.index.map(listed))));
      const footer = {
        complete: options.complete,
        ...(options.message ? { message: options.message } : {}),
        finalNs: this.finalNs,
        events: this.events,
        chunks: this.index.length,
        indexOffset,
        // where the SUMM chunk is: a reader that opens from the footer finds it without a walk
        summaryOffset,
        chunkListOffset,
        totals: sessionTotals(this.index),
        // a second copy of the header: a file whose HEAD chunk is damaged still opens (format 1.1)
        header: this.hdr,
      };
      this.write(frameChunk(CHUNK.FOOT, utf8(JSON.stringify(footer))));
    } finally {
      if (!this.failure) {
        this.closed = true;
        closeSync(this.fd);
      }
    }
    if (this.writing !== this.path) renameSync(this.writing, this.path);
  }
}

/**
 * Open `path` for writing, empty. An existing regular file with no other name is replaced by a
 * new one (same permission bits) rather than truncated: ext4 (auto_da_alloc) starts writing a
 * file truncated to zero back to disk when it is closed, and truncating it again waits for that
 * write, on the importing thread (1-30 ms of a 5-VM trace.dat import that rewrites its output,
 * 0.2 ms to unlink). A symlink, a file with other links or a special file is opened in place,
 * as before.
 */
function openFresh(path: string): number {
  let mode = 0o666;
  try {
    const st = lstatSync(path);
    // (a file made read-only is not replaced: opening it fails, as before)
    if (st.isFile() && st.nlink === 1 && (st.mode & 0o200) !== 0) {
      unlinkSync(path);
      mode = st.mode & 0o777;
    }
  } catch {
    // absent, or not ours to replace: opening it says why it cannot be written
  }
  return openSync(path, 'w', mode);
}

/** An index entry as a CLST record. */
function listed(e: IndexEntry): ListedChunk {
  return {
    offset: e.offset,
    length: e.length!,
    vm: e.vm,
    vcpu: e.vcpu,
    seq: e.seq,
    count: e.count,
    rawLength: e.rawLength!,
    codec: e.codec!,
    tMin: e.t0,
    tMax: e.t1,
    spanEnd: e.spanEnd,
    walkRefs: e.walkRefs ?? 0,
  };
}
