/** The reader's one way to inflate: never more output than the caller expects. */
import { inflateRawSync } from 'node:zlib';

/**
 * Inflate raw DEFLATE data that must come to exactly `expected` bytes; undefined otherwise.
 * zlib stops at `maxOutputLength`, so a hostile "zip bomb" costs no more than `expected` (which
 * the caller has checked against the format's caps). The output is one buffer of `expected`
 * bytes, not pieces joined at the end (that copy was most of the time of a 60 MB body).
 */
export function boundedInflate(data: Uint8Array, expected: number): Uint8Array | undefined {
  if (data.length === 0) return undefined;
  try {
    const out = inflateRawSync(data, { maxOutputLength: Math.max(1, expected), chunkSize: Math.max(64, expected + 1) });
    return out.length === expected ? out : undefined;
  } catch {
    return undefined;
  }
}
