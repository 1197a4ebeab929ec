import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CHUNK, EVTS_PREFIX_BYTES, concatBytes, frameChunk, preamble, utf8, writeEvtsPrefix, writeU32 } from './format.ts';
import { currentTypeTable } from './codec.ts';
import { openSession } from './reader.ts';
import { cpuMs } from './testing/cpuTime.ts';

// Structured fuzz: well-framed chunks (valid CRCs) whose contents are hostile. The caps must
// hold: every file opens or is refused with diagnostics, quickly, without throwing.

const header = frameChunk(
  CHUNK.HEAD,
  utf8(
    JSON.stringify({
      formatMajor: 1,
      formatMinor: 0,
      minReaderVersion: 1,
      producer: 'fuzz',
      scenarioName: 'fuzz',
      scenario: null,
      scenarioCrc32: '00000000',
      seed: 0,
      vms: 2,
      vcpus: [2, 1],
      features: {},
      eventTypes: currentTypeTable(),
    }),
  ),
);

const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 0xffffffff, 0x7fffffff, 1 << 20, (1 << 20) + 1), fc.nat());
const f64 = fc.oneof(fc.constantFrom(0, 1, 2 ** 53, 2 ** 60, -1, 0.5, Number.NaN, Infinity), fc.nat());

const evts = fc
  .record({
    vm: fc.integer({ min: 0, max: 3 }),
    vcpu: fc.integer({ min: 0, max: 3 }),
    seq: fc.integer({ min: 0, max: 5 }),
    firstOrdinal: f64,
    count: u32,
    rawLength: u32,
    tMin: f64,
    tMax: f64,
    spanEnd: f64,
    codec: fc.integer({ min: 0, max: 3 }),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // a "zip bomb": 8 MiB of zeros in a few kilobytes
      fc.constant(new Uint8Array(deflateRawSync(new Uint8Array(8 << 20)))),
      // a well-formed tiny body: empty dictionary, one guest_fault event
      fc.constant(new Uint8Array(deflateRawSync(new Uint8Array([0, 1, 0, 5, 2])))),
      fc.constant(new Uint8Array([0, 1, 0, 5, 2])),
    ),
  })
  .map((p) => {
    const payload = new Uint8Array(EVTS_PREFIX_BYTES + p.body.length);
    writeEvtsPrefix(payload, p);
    payload.set(p.body, EVTS_PREFIX_BYTES);
    return frameChunk(CHUNK.EVTS, payload);
  });

/** Plausible chunks: a correct prefix around a small body, sometimes slightly damaged. */
const plausible = fc
  .record({
    vm: fc.integer({ min: 0, max: 2 }),
    vcpu: fc.integer({ min: 0, max: 1 }),
    seq: fc.integer({ min: 0, max: 3 }),
    t: fc.nat(1000),
    compress: fc.boolean(),
    flip: fc.option(fc.tuple(fc.nat(4), fc.integer({ min: 1, max: 255 })), { freq: 3 }),
  })
  .map((p) => {
    const raw = new Uint8Array([0, 1, 0, 5, 2]);
    if (p.flip) raw[p.flip[0]]! ^= p.flip[1];
    const body = p.compress ? new Uint8Array(deflateRawSync(raw)) : raw;
    const payload = new Uint8Array(EVTS_PREFIX_BYTES + body.length);
    writeEvtsPrefix(payload, { vm: p.vm, vcpu: p.vcpu, seq: p.seq, firstOrdinal: 0, count: 1, rawLength: raw.length, tMin: p.t, tMax: p.t, spanEnd: p.t, codec: p.compress ? 1 : 0 });
    payload.set(body, EVTS_PREFIX_BYTES);
    return frameChunk(CHUNK.EVTS, payload);
  });

const other = fc.oneof(
  fc.tuple(fc.constantFrom(CHUNK.FOOT, CHUNK.INDX, CHUNK.HEAD, 0x454d4954, 0), fc.uint8Array({ maxLength: 64 })).map(([type, body]) => frameChunk(type, body)),
  fc.constant(frameChunk(CHUNK.FOOT, utf8(JSON.stringify({ complete: true, finalNs: 0, events: 99, chunks: 1, indexOffset: 3 })))),
  // a frame whose declared length is hostile
  fc.tuple(u32, fc.uint8Array({ maxLength: 32 })).map(([len, tail]) => {
    const b = new Uint8Array(8 + tail.length);
    writeU32(b, 0, CHUNK.EVTS);
    writeU32(b, 4, len);
    b.set(tail, 8);
    return b;
  }),
);

describe('structured fuzz', () => {
  it('hostile chunk sequences never throw, hang or blow the caps', () => {
    let withEvents = 0;
    let refusedChunks = 0;
    fc.assert(
      fc.property(fc.array(fc.oneof(evts, plausible, plausible, other), { maxLength: 8 }), (chunks) => {
        const file = concatBytes([preamble(), header, ...chunks]);
        const started = cpuMs();
        const { session, diagnostics } = openSession(file);
        expect(diagnostics.every((d) => d.severity !== 'error' || d.code !== 'reader_bug')).toBe(true);
        if (session) {
          let n = 0;
          for (const e of session.iterate()) {
            expect(Number.isSafeInteger(e.t)).toBe(true);
            if (++n > 10_000) break;
          }
          session.summary();
          session.counters();
          session.timeline(0, 1000, 10);
          session.events(0, 5);
          session.events(2, 5, ['guest_fault']);
          session.indexAtTime(500);
          if (n > 0) withEvents++;
          if (diagnostics.some((d) => d.code === 'bad_chunk' || d.code === 'undecodable_chunk')) refusedChunks++;
        }
        expect(cpuMs() - started).toBeLessThan(5000);
      }),
      { numRuns: 400, seed: 7 },
    );
    // the fuzzer reached both sides: chunks that decode and chunks that are refused
    expect(withEvents).toBeGreaterThan(5);
    expect(refusedChunks).toBeGreaterThan(20);
  });

  it('a well-formed hand-built chunk decodes to the event it holds', () => {
    const body = new Uint8Array([0, 1, 0, 5, 2]); // no strings; type 1 (guest_fault), dt 0, va 5, errorCode 2
    const payload = new Uint8Array(EVTS_PREFIX_BYTES + body.length);
    writeEvtsPrefix(payload, { vm: 1, vcpu: 0, seq: 0, firstOrdinal: 0, count: 1, rawLength: body.length, tMin: 42, tMax: 42, spanEnd: 42, codec: 0 });
    payload.set(body, EVTS_PREFIX_BYTES);
    const { session, diagnostics } = openSession(concatBytes([preamble(), header, frameChunk(CHUNK.EVTS, payload)]));
    expect(diagnostics.map((d) => d.code)).toEqual(['recording_incomplete']);
    expect(session!.events(0, 10).events).toEqual([{ t: 42, vm: 1, vcpu: 0, type: 'guest_fault', va: '0x5', errorCode: 2 }]);
  });

  it('a zip bomb costs no more than the declared size and is reported', () => {
    const bomb = new Uint8Array(deflateRawSync(new Uint8Array(256 << 20)));
    const payload = new Uint8Array(EVTS_PREFIX_BYTES + bomb.length);
    writeEvtsPrefix(payload, { vm: 0, vcpu: 0, seq: 0, firstOrdinal: 0, count: 1, rawLength: 5, tMin: 1, tMax: 1, spanEnd: 1, codec: 1 });
    payload.set(bomb, EVTS_PREFIX_BYTES);
    const started = cpuMs();
    const { session } = openSession(concatBytes([preamble(), header, frameChunk(CHUNK.EVTS, payload)]));
    expect(session!.events(0, 10).events).toEqual([]);
    expect(session!.diagnostics.map((d) => d.code)).toContain('undecodable_chunk');
    expect(cpuMs() - started).toBeLessThan(1000);
  });
});
