/**
 * The WebAssembly half of a trace.dat reader (wasm/pack.c): per CPU stream its windows (the
 * file's pages or a decompressed chunk) and its decoded page; the merge of the streams in time
 * order; the packing of events into batches. One instance per reader: its memory is the
 * reader's, and a reader on another thread has its own.
 *
 * The module (the loop and zstd's decompressor, ~85 KB) is compiled once per thread,
 * synchronously: V8 compiles a WebAssembly function at its first call, so this takes about a
 * millisecond and no reader has to wait for it.
 */
import type { EventHeader, PageHeader } from './formats.ts';
import { PACK_WASM_BASE64 } from './wasm/packWasm.ts';

/** pack.c's exports (see there what each does). */
export interface PackExports {
  memory: WebAssembly.Memory;
  init(cpus: number, pageSize: number, littleEndian: number): number;
  layout(tsAt: number, commitAt: number, commitSize: number, dataAt: number, typeLenBits: number, deltaBits: number, dataMax: number, timeExtend: number, timeStamp: number, padding: number): void;
  window(cpu: number, size: number): number;
  decode(cpu: number, start: number, size: number): number;
  err_at_(): number;
  err_value_(): number;
  page_lost_(): number;
  head(cpu: number): number;
  count(cpu: number): number;
  set_head(cpu: number, head: number): void;
  last_ts(cpu: number): number;
  set_last_ts(cpu: number, ts: number, has: number): void;
  finish(cpu: number): void;
  step(): number;
  at_ptr_(): number;
  at_len_(): number;
  at_ts_(): number;
  pack_init(ids: number, commonPidAt: number, entries: number, trial: number, arena: number): number;
  set_plan(id: number, pidAt: number, keyStart: number): void;
  batch(max: number, typical: number): number;
  pack(): number;
  batch_n(): number;
  batch_ts(): number;
  batch_ints(): number;
  batch_bytes(): number;
  batch_pos(): number;
  batch_fresh(): number;
  batch_fresh_n(): number;
  batch_fresh_from(): number;
  interned(): number;
  zstd_input(size: number): number;
  unzstd_window(cpu: number, zsize: number, size: number): number;
  unzstd(zsize: number, size: number): number;
  zstd_output(): number;
  zstd_error(code: number): number;
}

/** In step()'s and pack()'s answer: the stream (low bits) handed out its page's last event. */
export const NEED_PAGE = 0x40000000;
/** In pack()'s answer: the event id (low 16 bits) needs its plan (set_plan) first. */
export const NEED_PLAN = 0x20000000;
export const BATCH_DONE = 0;

/** decode()'s answers for a page that contradicts itself, as the reader words them. */
const PAGE_ERRORS: Record<number, (at: number, value: number, dataSize: number) => string> = {
  [-1]: (_at, used, dataSize) => `the page says it holds ${used} bytes, more than its ${dataSize}`,
  [-2]: (at) => `an event header at byte ${at} of the page is cut by the page's end`,
  [-3]: (at, len) => `an event at byte ${at} of the page claims ${len} bytes`,
  [-4]: (at) => `an event at byte ${at} of the page runs past the page's data`,
  [-5]: (at) => `a time extend at byte ${at} of the page is cut by the page's end`,
  [-6]: (at) => `a time stamp at byte ${at} of the page is cut by the page's end`,
  [-7]: (at, type) => `unknown event type ${type} at byte ${at} of the page`,
};

export class PageError extends Error {}

let compiled: WebAssembly.Module | undefined;

/** An instance of the module (compiled at the first, synchronously: V8 compiles its functions lazily). */
export function instantiate(): PackExports {
  compiled ??= new WebAssembly.Module(Buffer.from(PACK_WASM_BASE64, 'base64'));
  return new WebAssembly.Instance(compiled).exports as unknown as PackExports;
}

export function outOfMemory(): RangeError {
  return new RangeError('out of memory for the trace.dat reader');
}

/** Copy the `data` to decompress into the instance; then `run` (unzstd or unzstd_window) decompresses it. Returns the bytes made; throws zstd's words for an error. */
export function unzstdWith(x: PackExports, data: Uint8Array, run: () => number): number {
  const at = x.zstd_input(data.length);
  if (at === 0) throw outOfMemory();
  new Uint8Array(x.memory.buffer).set(data, at);
  const n = run();
  if (n >= 0) return n;
  const mem = new Uint8Array(x.memory.buffer);
  const text = x.zstd_error(-1 - n);
  throw new Error(Buffer.from(mem.subarray(text, mem.indexOf(0, text))).toString('latin1'));
}

export class PackCore {
  readonly x: PackExports;
  private buffer: ArrayBuffer | undefined;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));

  constructor(
    streams: number,
    readonly page: PageHeader,
    header: EventHeader,
    readonly littleEndian: boolean,
    pageSize: number,
  ) {
    this.x = instantiate();
    // init first: the layout depends on the byte order
    if (this.x.init(streams, pageSize, littleEndian ? 1 : 0) < 0) throw outOfMemory();
    this.x.layout(page.timestampOffset, page.commitOffset, page.commitSize, page.dataOffset, header.typeLenBits, header.deltaBits, header.dataMax, header.timeExtend, header.timeStamp, header.padding);
  }

  /** The memory's bytes (made again when the memory has grown, which detaches the old view). */
  bytes(): Uint8Array {
    if (this.x.memory.buffer !== this.buffer) this.refresh();
    return this.u8;
  }

  view(): DataView {
    if (this.x.memory.buffer !== this.buffer) this.refresh();
    return this.dv;
  }

  private refresh(): void {
    const b = this.x.memory.buffer as ArrayBuffer;
    this.buffer = b;
    this.u8 = new Uint8Array(b);
    this.dv = new DataView(b);
  }

  /**
   * Stream `i`'s next window, `size` bytes of the memory for the caller to fill (the window
   * before stays readable until the next). Valid until the next call into the module.
   */
  window(i: number, size: number): Uint8Array {
    const at = this.x.window(i, size);
    if (at === 0) throw outOfMemory();
    return this.bytes().subarray(at, at + size);
  }

  /** Copy `bytes` in as stream `i`'s next window (see window()); returns where in the memory it starts. */
  load(i: number, bytes: Uint8Array): number {
    const w = this.window(i, bytes.length);
    w.set(bytes);
    return w.byteOffset;
  }

  /** Decompress the zstd frame `data` straight into stream `i`'s next window (as load()); returns the bytes it made. */
  unzstd(i: number, data: Uint8Array, size: number): number {
    return unzstdWith(this.x, data, () => this.x.unzstd_window(i, data.length, size));
  }

  /** Decode the page at `start` of stream `i`'s window; its events count, or throws PageError. */
  decode(i: number, start: number, size: number): number {
    const n = this.x.decode(i, start, size);
    if (n >= 0) return n;
    const words = PAGE_ERRORS[n];
    throw new PageError(words ? words(this.x.err_at_(), this.x.err_value_(), size - this.page.dataOffset) : `page error ${n}`);
  }
}
