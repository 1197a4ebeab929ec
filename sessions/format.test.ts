import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from './format.ts';

/** What a read does to a reader: the position it leaves, or the error it throws. */
function outcome(bytes: Uint8Array, read: (r: ByteReader) => unknown): string {
  const r = new ByteReader(bytes);
  try {
    read(r);
    return `pos ${r.pos}`;
  } catch (e) {
    return `error ${(e as Error).message}`;
  }
}

// The column scan steps over fields it does not need; it must accept and refuse exactly what
// decoding them accepts and refuses, or a chunk would scan but not decode.
describe('skipping varints is reading them without the value', () => {
  // Bytes biased towards continuation bits, so long and over-long encodings are common.
  const varintish = fc.array(fc.oneof(fc.integer({ min: 0x80, max: 0xff }), fc.integer({ min: 0, max: 0xff })), { maxLength: 12 }).map((a) => new Uint8Array(a));

  it('skipVaruint = varuint (length limit, the 2^53 limit, running out of bytes)', () => {
    fc.assert(fc.property(varintish, (b) => {
        expect(outcome(b, (r) => r.skipVaruint())).toBe(outcome(b, (r) => r.varuint()));
      }), { numRuns: 20_000, seed: 7 });
  });

  it('skipVaruint64 = varuint64', () => {
    fc.assert(fc.property(varintish, (b) => {
        expect(outcome(b, (r) => r.skipVaruint64())).toBe(outcome(b, (r) => r.varuint64()));
      }), { numRuns: 20_000, seed: 8 });
  });

  it('at the edges: 2^53 - 1 is read and skipped, 2^53 is refused by both', () => {
    const w = new ByteWriter();
    w.varuint(Number.MAX_SAFE_INTEGER);
    const max = w.bytes();
    expect(max.length).toBe(8);
    expect(outcome(max, (r) => r.skipVaruint())).toBe('pos 8');
    const over = max.slice();
    over[7] = over[7]! + 1; // 2^53: the 8th byte carries bits 49-55
    expect(outcome(over, (r) => r.varuint())).toMatch(/larger than 2\^53/);
    expect(outcome(over, (r) => r.skipVaruint())).toMatch(/larger than 2\^53/);
  });
});
