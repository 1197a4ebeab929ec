/**
 * The WebAssembly page decoder (wasm/pack.c through PackCore) on pages built here by hand from
 * the ring buffer's layout as the kernel describes it (header_page, header_event): each event's
 * time, payload and length are known from how the page was built, in both byte orders.
 */
import { describe, expect, it } from 'vitest';
import type { EventHeader, PageHeader } from './formats.ts';
import { PackCore, PageError } from './packCore.ts';

// a 64-bit kernel's header_page and header_event
const PAGE: PageHeader = { timestampOffset: 0, commitOffset: 8, commitSize: 8, dataOffset: 16, dataSize: 4080 };
const HEADER: EventHeader = { typeLenBits: 5, deltaBits: 27, padding: 29, timeExtend: 30, timeStamp: 31, dataMax: 28 };
const PAGE_SIZE = 4096;
const MISSED_EVENTS = 0x80000000;
const MISSED_STORED = 0x40000000;

/** Builds a page's data: words of (type_len, time_delta) and payloads, in a byte order. */
class PageBuilder {
  readonly bytes = new Uint8Array(PAGE_SIZE);
  private readonly view = new DataView(this.bytes.buffer);
  private at = PAGE.dataOffset;
  constructor(
    readonly le: boolean,
    pageTs: number,
  ) {
    this.view.setBigUint64(PAGE.timestampOffset, BigInt(pageTs), le);
  }
  private header(type: number, delta: number): void {
    // little-endian kernels keep type_len in the low bits, big-endian in the high bits
    const word = this.le ? ((delta << HEADER.typeLenBits) | type) >>> 0 : ((type << HEADER.deltaBits) | delta) >>> 0;
    this.view.setUint32(this.at, word, this.le);
    this.at += 4;
  }
  u32(v: number): void {
    this.view.setUint32(this.at, v, this.le);
    this.at += 4;
  }
  /** A small event (type_len = words of payload); returns its payload. */
  small(delta: number, words: number, fill: number): Uint8Array {
    this.header(words, delta);
    const p = this.bytes.subarray(this.at, this.at + words * 4);
    p.fill(fill);
    this.at += words * 4;
    return p.slice();
  }
  /** A long event: type_len 0, its length (this word included) in array[0]. */
  long(delta: number, dataBytes: number, fill: number): Uint8Array {
    this.header(0, delta);
    this.u32(dataBytes + 4);
    const p = this.bytes.subarray(this.at, this.at + dataBytes);
    p.fill(fill);
    this.at += (dataBytes + 3) & ~3;
    return p.slice();
  }
  extend(delta: number, high: number): void {
    this.header(HEADER.timeExtend, delta);
    this.u32(high);
  }
  stamp(delta: number, high: number): void {
    this.header(HEADER.timeStamp, delta);
    this.u32(high);
  }
  /** A discarded event of `bytes` (header included) that still moves time by `delta`. */
  discarded(delta: number, bytes: number): void {
    this.header(HEADER.padding, delta);
    this.u32(bytes);
    this.at += bytes - 4;
  }
  rawHeader(type: number, delta: number): void {
    this.header(type, delta);
  }
  /** Sets the commit word (bytes used | flags) and, with MISSED_STORED, the lost count after the data. */
  finish(flags = 0, lost = 0): Uint8Array {
    const used = this.at - PAGE.dataOffset;
    // commit is a 64-bit long: the bytes used, and the flags in its bit 31 and 30
    this.view.setBigUint64(PAGE.commitOffset, BigInt((used | flags) >>> 0), this.le);
    if (flags & MISSED_STORED) this.view.setBigUint64(this.at, BigInt(lost), this.le);
    return this.bytes;
  }
}

function decodeAll(core: PackCore, page: Uint8Array, size = PAGE_SIZE): { ts: number; payload: Uint8Array }[] {
  core.load(0, page);
  const n = core.decode(0, 0, size);
  const out: { ts: number; payload: Uint8Array }[] = [];
  for (let i = 0; i < n; i++) {
    core.x.step();
    const at = core.x.at_ptr_();
    out.push({ ts: core.x.at_ts_(), payload: core.bytes().slice(at, at + core.x.at_len_()) });
  }
  expect(core.x.step()).toBe(-1); // the page's events, no more
  return out;
}

describe.each([true, false])('the WebAssembly page decoder (little-endian %s)', (le) => {
  const core = (): PackCore => new PackCore(1, PAGE, HEADER, le, PAGE_SIZE);

  it('reads small and long events, time extends, absolute stamps and discarded events in time order', () => {
    const b = new PageBuilder(le, 1_000_000);
    const a = b.small(5, 2, 0xa1); // 1 000 005
    b.extend(3, 2); // + 2 * 2^27 + 3
    const c = b.long(7, 40, 0xc3); // + 7
    b.discarded(11, 16); // + 11, no event
    b.stamp(100, 1); // absolute: 1 * 2^27 + 100
    const d = b.small(1, 1, 0xd4);
    const pc = core();
    const events = decodeAll(pc, b.finish());
    const extended = 1_000_005 + 2 * 2 ** 27 + 3 + 7;
    expect(events.map((e) => e.ts)).toEqual([1_000_005, extended, 2 ** 27 + 100 + 1]);
    expect(events.map((e) => Array.from(e.payload))).toEqual([a, c, d].map((p) => Array.from(p)));
    expect(pc.x.page_lost_()).toBe(0);
  });

  it('an absolute stamp keeps the top bits (above 2^59) of the page clock', () => {
    const top = 2 ** 59;
    const b = new PageBuilder(le, top + 10);
    b.stamp(50, 0);
    b.small(0, 1, 1);
    expect(decodeAll(core(), b.finish()).map((e) => e.ts)).toEqual([top + 50]);
  });

  it('padding with delta 0 ends the page', () => {
    const b = new PageBuilder(le, 0);
    b.small(1, 1, 1);
    b.rawHeader(HEADER.padding, 0);
    b.small(1, 1, 2); // after the end: not an event
    expect(decodeAll(core(), b.finish()).length).toBe(1);
  });

  it('says what the kernel lost before the page: counted, or only flagged', () => {
    const c = core();
    const b = new PageBuilder(le, 0);
    b.small(1, 1, 1);
    decodeAll(c, b.finish(MISSED_EVENTS | MISSED_STORED, 1234));
    expect(c.x.page_lost_()).toBe(1234);
    const f = new PageBuilder(le, 0);
    f.small(1, 1, 1);
    decodeAll(c, f.finish(MISSED_EVENTS));
    expect(c.x.page_lost_()).toBe(-1);
  });

  it('a page that contradicts itself is a PageError that says where, and leaves no event', () => {
    const c = core();
    const cut = new PageBuilder(le, 0);
    cut.small(1, 1, 1);
    cut.rawHeader(0, 1); // a long event's header with no length word before the data ends
    c.load(0, cut.finish());
    expect(() => c.decode(0, 0, PAGE_SIZE)).toThrow(new PageError("an event header at byte 24 of the page is cut by the page's end"));
    expect(c.x.step()).toBe(-1);
    const claims = new PageBuilder(le, 0);
    claims.rawHeader(0, 1);
    claims.u32(5000);
    c.load(0, claims.finish());
    expect(() => c.decode(0, 0, PAGE_SIZE)).toThrow(new PageError('an event at byte 16 of the page claims 5000 bytes'));
    const over = new PageBuilder(le, 0);
    over.small(1, 1, 1);
    const page = over.finish();
    c.load(0, page);
    expect(() => c.decode(0, 0, 20)).toThrow(new PageError('the page says it holds 8 bytes, more than its 4'));
  });
});

describe('the WebAssembly page decoder: event types the layout does not know', () => {
  it('a type_len past data_max that is no padding, extend or stamp is a PageError', () => {
    const core = new PackCore(1, PAGE, { ...HEADER, dataMax: 27 }, true, PAGE_SIZE);
    const b = new PageBuilder(true, 0);
    b.rawHeader(28, 0);
    core.load(0, b.finish());
    expect(() => core.decode(0, 0, PAGE_SIZE)).toThrow(new PageError('unknown event type 28 at byte 16 of the page'));
  });
});

describe('the WebAssembly merge', () => {
  it('hands out the events of several streams in time order, and says when a stream used its page up', () => {
    const core = new PackCore(2, PAGE, HEADER, true, PAGE_SIZE);
    const p0 = new PageBuilder(true, 100);
    p0.small(0, 1, 1); // 100
    p0.small(20, 1, 2); // 120
    const p1 = new PageBuilder(true, 110);
    p1.small(0, 1, 3); // 110
    core.load(0, p0.finish());
    expect(core.decode(0, 0, PAGE_SIZE)).toBe(2);
    core.load(1, p1.finish());
    expect(core.decode(1, 0, PAGE_SIZE)).toBe(1);
    const seen: [number, number, boolean][] = [];
    for (let r = core.x.step(); r >= 0; r = core.x.step()) seen.push([core.x.at_ts_(), r & 0xff, (r & 0x40000000) !== 0]);
    expect(seen).toEqual([
      [100, 0, false],
      [110, 1, true],
      [120, 0, true],
    ]);
    expect(core.x.last_ts(0)).toBe(120);
    expect(core.x.last_ts(1)).toBe(110);
  });
});
