/**
 * The reader's memory budgets, in bytes, whatever the file. The format's caps (format.ts CAPS)
 * bound what one chunk may declare; these bound what the reader builds from them, so that every
 * command stays under 1 GB whatever it is given (docs/session-format.md, "Memory limits").
 * Decoded sizes are DECODE_COST estimates (codec.ts), calibrated on V8.
 */
export const READ_LIMITS = {
  /** Most one chunk's decoded events may take; a chunk beyond it is skipped with `chunk_too_large`. */
  chunkDecodeBytes: 192 << 20,
  /**
   * Decoded chunks kept for reuse, least recently used dropped beyond it: about 40 kbuild chunks,
   * for going back and forth near a few places (paging the event list, states near a selection).
   * Event objects are most of the reader's heap and V8 lets the old generation grow to a few
   * times what it keeps, so this also sets how much garbage a long session's random reads leave
   * before it is collected (128 MB: the reader peaked at 625 MB at 100 M events; 32 MB: 360 MB).
   */
  eventCacheBytes: 32 << 20,
  /**
   * Chunk columns (times and exits) kept for reuse, least recently used dropped beyond it: about
   * 700 kbuild chunks. Views over long ranges read the summaries, not the chunks, so what is
   * reused is the few chunks at a window's ends and around a seek.
   */
  columnCacheBytes: 48 << 20,
  /** Summary levels kept decoded whole (the small ones; larger levels are decoded a window at a time). */
  summaryLevelBytes: 64 << 20,
  /** What a merge of the lanes in canonical order may hold at once: one decoded chunk per lane. */
  mergeBytes: 320 << 20,
} as const;

const mb = (n: number) => `${Math.round(n / (1 << 20))} MB`;

/**
 * A request the reader cannot answer within its memory budget (the file is well-formed, but its
 * lanes hold chunks too large to merge at once). Carries a message for a person.
 */
export class ReaderLimitError extends Error {
  constructor(lanes: number) {
    super(
      `This session's ${lanes} vCPU lanes hold event chunks too large to read in time order within the reader's memory budget ` +
        `(more than ${mb(READ_LIMITS.mergeBytes)} at once); a session written by MMU Lab never needs this, so the file was probably crafted or damaged.`,
    );
    this.name = 'ReaderLimitError';
  }
}
