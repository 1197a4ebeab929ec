/**
 * The events of a trace.dat in time order: each CPU's pages are read a window at a time (or a
 * compressed chunk at a time), decoded page by page, and the CPUs merged by timestamp. Memory is
 * one window (or chunk) and one decoded page per CPU, whatever the file's size. Damage (a cut
 * file, a page that contradicts itself, a chunk that does not decompress) ends that CPU's
 * stream where it is; the other CPUs go on, and `damage` says where and what.
 */
import { Cursor, FileBytes, TraceDatError, decompress, decompressed, readMeta, type CpuData, type TraceDatMeta } from './file.ts';
import type { EventFormat, FieldFormat, FormatTable } from './formats.ts';
import { NEED_PAGE, PackCore, PageError } from './packCore.ts';

/** One event; the reader reuses the object, so copy what you keep. */
export interface DatRecord {
  /** Nanoseconds of the trace clock. */
  ts: number;
  cpu: number;
  pid: number;
  comm: string;
  /** Its format, undefined when the file has none for the event's id. */
  format: EventFormat | undefined;
  id: number;
  view: DataView;
  /** Payload start (common fields included) and length in `view`. */
  offset: number;
  length: number;
}

export interface Damage {
  cpu: number;
  /** Byte of the file where the damage is. */
  byte: number;
  /** Time of the last event read before it on this CPU (ns), undefined when none was. */
  afterTs?: number;
  message: string;
}

/**
 * Where one CPU's stream is (its current page and the event in it): what another reader of
 * the same file needs to go on from there without reading what came before (threaded.ts).
 */
export interface StreamPlace {
  done: boolean;
  /** The next file byte to read (bytes read so far: progress). */
  next: number;
  /** The window's first byte (uncompressed) or its chunk's header (compressed). */
  windowAt: number;
  /** Chunks left before that chunk was loaded. */
  chunksLeft: number;
  /** The current page's start within the window, and the next event in it. */
  pageAt: number;
  head: number;
  lastTs: number | undefined;
  lost: number;
  pages: number;
}

/** Where a reader is: each CPU's place and the events read so far. */
export interface ReaderPlace {
  count: number;
  cpus: StreamPlace[];
}

/** Pages read at a time from an uncompressed file. */
const WINDOW_PAGES = 64;

/** One CPU's pages, in order: its windows and decoded page are in the reader's PackCore. */
class CpuStream {
  private windowLength = 0;
  private windowAt = 0; // file byte of the window's start (uncompressed) or chunk start (compressed)
  private pageAt = 0; // next page's start within the window
  private next: number; // next file byte to read
  private readonly end: number;
  private chunksLeft = -1;
  done = false;
  lost = 0;
  pages = 0;

  constructor(
    private readonly index: number,
    readonly data: CpuData,
    private readonly meta: TraceDatMeta,
    private readonly file: FileBytes,
    private readonly core: PackCore,
    private readonly damage: Damage[],
    place?: StreamPlace,
  ) {
    this.next = data.offset;
    this.end = data.offset + data.size;
    if (place) this.resume(place);
    else this.advancePage();
  }

  /** The next event's index in the decoded page. */
  get head(): number {
    return this.core.x.head(this.index);
  }

  /** Time of the last event read on this CPU, undefined when none was. */
  get lastTs(): number | undefined {
    const t = this.core.x.last_ts(this.index);
    return Number.isNaN(t) ? undefined : t;
  }

  /** Where this stream is (see StreamPlace). */
  place(): StreamPlace {
    const head = this.head;
    const done = this.done || head >= this.core.x.count(this.index);
    return {
      done,
      next: this.next,
      windowAt: this.windowAt,
      chunksLeft: this.chunksLeft + 1,
      pageAt: this.pageAt - this.meta.pageSize,
      head,
      lastTs: this.lastTs,
      lost: this.lost,
      pages: this.pages,
    };
  }

  /** Go on from where another reader of the same file was: its window or chunk read again, its page decoded again. */
  private resume(p: StreamPlace): void {
    this.core.x.set_last_ts(this.index, p.lastTs ?? 0, p.lastTs === undefined ? 0 : 1);
    if (p.done) {
      this.done = true;
      this.next = p.next;
      return;
    }
    this.next = p.windowAt;
    this.chunksLeft = p.chunksLeft;
    if (!this.load()) {
      this.done = true;
      return;
    }
    this.pageAt = p.pageAt;
    this.advancePage();
    // (counted again by advancePage: the page was counted where it was first read)
    this.lost = p.lost;
    this.pages = p.pages;
    this.core.x.set_head(this.index, p.head);
  }

  private fail(byte: number, message: string): void {
    this.damage.push({ cpu: this.data.cpu, byte, afterTs: this.lastTs, message });
    this.done = true;
    this.core.x.finish(this.index);
  }

  /** Load the next window or chunk; false at the end of the CPU's data. */
  private load(): boolean {
    const file = this.file;
    const ps = this.meta.pageSize;
    if (this.meta.chunked) {
      if (this.chunksLeft < 0) {
        if (this.data.size === 0) return false;
        if (this.next + 4 > file.size) return this.cut(this.next), false;
        this.chunksLeft = new Cursor(file.read(this.next, 4, 'a chunk count'), file.littleEndian, 'a chunk count').u32();
        this.next += 4;
      }
      if (this.chunksLeft === 0) return false;
      if (this.next + 8 > file.size) return this.cut(this.next), false;
      const h = new Cursor(file.read(this.next, 8, 'a chunk header'), file.littleEndian, 'a chunk header');
      const zsize = h.u32();
      const size = h.u32();
      const at = this.next;
      if (at + 8 + zsize > file.size) return this.cut(at), false;
      if (size > 1 << 28 || size % ps !== 0) return this.fail(at, `a compressed chunk says it holds ${size} bytes (not whole ${ps}-byte pages)`), false;
      try {
        const data = file.read(at + 8, zsize, 'a compressed chunk');
        const what = `cpu ${this.data.cpu}'s chunk at byte ${at}`;
        // zstd (trace-cmd's default) decompresses straight into the window
        if (this.meta.compression === 'zstd') decompressed('zstd', size, what, () => this.core.unzstd(this.index, data, size));
        else this.core.load(this.index, decompress(this.meta.compression, data, size, what));
        this.windowLength = size;
      } catch (e) {
        if (e instanceof TraceDatError) return this.fail(at, e.message), false;
        throw e;
      }
      this.windowAt = at;
      this.next = at + 8 + zsize;
      this.chunksLeft--;
    } else {
      const left = Math.min(this.end, file.size) - this.next;
      if (left < ps) {
        if (this.end > file.size && this.next < this.end) this.cut(this.next);
        return false;
      }
      const n = Math.min(WINDOW_PAGES, Math.floor(left / ps)) * ps;
      file.readInto(this.next, this.core.window(this.index, n), `cpu ${this.data.cpu}'s pages`);
      this.windowLength = n;
      this.windowAt = this.next;
      this.next += n;
    }
    this.pageAt = 0;
    return true;
  }

  private cut(byte: number): void {
    this.fail(byte, `the file ends at byte ${this.file.size}, inside cpu ${this.data.cpu}'s data (which should end at byte ${this.end})`);
  }

  /** Decode pages until one has events; `done` at the end. */
  advancePage(): void {
    const ps = this.meta.pageSize;
    for (;;) {
      if (this.done) return;
      if (this.pageAt + ps > this.windowLength && !this.load()) {
        this.done = true;
        return;
      }
      const at = this.pageAt;
      this.pageAt += ps;
      let count: number;
      try {
        count = this.core.decode(this.index, at, ps);
      } catch (e) {
        if (!(e instanceof PageError)) throw e;
        const byte = this.meta.chunked ? this.windowAt : this.windowAt + at;
        this.fail(byte, `cpu ${this.data.cpu}'s page at ${this.meta.chunked ? `offset ${at} of the chunk at byte ${byte}` : `byte ${byte}`} is damaged: ${e.message}`);
        return;
      }
      this.pages++;
      const lost = this.core.x.page_lost_();
      if (lost) this.lost += lost > 0 ? lost : 0;
      if (count > 0) return;
    }
  }

  /** Bytes of this CPU's data read so far. */
  get consumed(): number {
    return this.next - this.data.offset;
  }
}

export function emptyRecord(): DatRecord {
  return { ts: 0, cpu: 0, pid: -1, comm: '', format: undefined, id: -1, view: new DataView(new ArrayBuffer(0)), offset: 0, length: 0 };
}

/** Fills a record from a decoded page event: its type (common_type), format, pid and comm. */
export class RecordMaker {
  private readonly pidField: FieldFormat | undefined;
  constructor(
    private readonly events: FormatTable,
    private readonly le: boolean,
    private readonly commOf: (pid: number) => string | undefined,
  ) {
    // common_pid sits at the same place in every event
    this.pidField = events.commonPid();
  }

  fill(r: DatRecord, view: DataView, off: number, len: number, ts: number, cpu: number): DatRecord {
    r.ts = ts;
    r.cpu = cpu;
    r.view = view;
    r.offset = off;
    r.length = len;
    // common_type is the payload's first u16 in every kernel that has trace.dat v6
    r.id = len >= 2 ? view.getUint16(off, this.le) : -1;
    r.format = this.events.get(r.id);
    const pf = r.format?.pid ?? this.pidField;
    r.pid = pf && pf.offset + 4 <= len ? view.getInt32(off + pf.offset, this.le) : -1;
    r.comm = r.pid === 0 ? '<idle>' : (this.commOf(r.pid) ?? '<...>');
    return r;
  }
}

export class TraceDatReader {
  readonly meta: TraceDatMeta;
  readonly damage: Damage[] = [];
  private readonly file: FileBytes;
  private readonly streams: CpuStream[];
  /** The streams' windows and pages, the merge and the packing (EventPacker uses it too). */
  readonly core: PackCore;
  private readonly record: DatRecord;
  private readonly maker: RecordMaker;
  /** Events read so far. */
  count = 0;

  /** Open a trace.dat (as the constructor; kept for the readers that await it). */
  static async open(path: string, meta?: TraceDatMeta): Promise<TraceDatReader> {
    return new TraceDatReader(path, meta);
  }

  /**
   * `meta` is what an earlier reader of the same file read (its formats are parsed once, not at every pass).
   */
  constructor(path: string, meta?: TraceDatMeta, place?: ReaderPlace) {
    this.file = new FileBytes(path, meta?.littleEndian);
    try {
      if (meta && this.file.size !== meta.fileSize) throw new TraceDatError(`${path} changed while it was read (${meta.fileSize} bytes, now ${this.file.size})`);
      this.meta = meta ?? readMeta(this.file);
    } catch (e) {
      this.file.close();
      throw e;
    }
    if (place && place.cpus.length !== this.meta.cpus.length) throw new Error(`a reader place of ${place.cpus.length} CPUs for a file of ${this.meta.cpus.length}`);
    const m = this.meta;
    this.core = new PackCore(m.cpus.length, m.pageHeader, m.eventHeader, m.littleEndian, m.pageSize);
    this.streams = m.cpus.map((d, i) => new CpuStream(i, d, m, this.file, this.core, this.damage, place?.cpus[i]));
    this.count = place?.count ?? 0;
    this.maker = new RecordMaker(this.meta.events, this.meta.littleEndian, (pid) => this.meta.comms.get(pid));
    this.record = emptyRecord();
  }

  /** Where this reader is: another reader of the same file made with it goes on from here. */
  place(): ReaderPlace {
    return { count: this.count, cpus: this.streams.map((s) => s.place()) };
  }

  /** Bytes of CPU data read so far (for progress). */
  get bytesRead(): number {
    let n = 0;
    for (const s of this.streams) n += s.consumed;
    return n;
  }

  /** Events the kernel dropped (as its pages counted them). */
  get lost(): number {
    let n = 0;
    for (const s of this.streams) n += s.lost;
    return n;
  }

  /** The event `advance()` moved to: its payload in `at.view`, its time and CPU. */
  readonly at: { view: DataView; offset: number; length: number; ts: number; cpu: number } = { view: new DataView(new ArrayBuffer(0)), offset: 0, length: 0, ts: 0, cpu: 0 };

  /** The next event in time order, or undefined at the end. The object is reused. */
  next(): DatRecord | undefined {
    if (!this.advance()) return undefined;
    const a = this.at;
    return this.maker.fill(this.record, a.view, a.offset, a.length, a.ts, a.cpu);
  }

  /** Move to the next event in time order (`at` says where it is); false at the end. */
  advance(): boolean {
    const x = this.core.x;
    const r = x.step();
    if (r < 0) return false;
    const s = this.streams[r & (NEED_PAGE - 1)]!;
    const a = this.at;
    a.offset = x.at_ptr_();
    a.length = x.at_len_();
    a.ts = x.at_ts_();
    a.cpu = s.data.cpu;
    this.count++;
    if (r & NEED_PAGE) s.advancePage();
    // after the page: loading it may have grown the memory (the event's bytes stay where they are)
    a.view = this.core.view();
    return true;
  }

  /** Stream `i` handed out its page's last event (to EventPacker): decode its next page. */
  pageDone(i: number): void {
    this.streams[i]!.advancePage();
  }

  close(): void {
    this.file.close();
  }
}
