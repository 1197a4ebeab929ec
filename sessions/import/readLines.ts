/**
 * Reading a trace file as lines, in chunks, with constant memory (the import's first step, in
 * the importing thread or in the reading thread of parseWorker.ts).
 */
import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isPlain } from './lines.ts';

/** A failure the user can act on (a missing or unreadable file): its message is shown as is. */
export class ImportError extends Error {}

const MAX_LINE_BYTES = 1 << 20;

export async function readLines(
  path: string,
  /**
   * Each line: text.slice(start, end), where text may hold many lines (a chunk's); `plain`
   * when isPlain(text) (lines.ts).
   */
  onLine: (text: string, start: number, end: number, lineNo: number, plain: boolean) => void,
  /** `sync`: read without waiting for the event loop (a reading thread, which has nothing else to do meanwhile). */
  opts: { chunkBytes: number; signal?: AbortSignal; onChunk?: (bytes: number, lines: number) => void; stopAtLine?: number; sync?: boolean },
): Promise<{ lines: number; bytes: number; aborted: boolean }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new ImportError(`cannot read ${path} (${(e as { code?: string }).code ?? String(e)})`);
  }
  let lineNo = 0;
  let bytes = 0;
  let carry: Buffer | undefined;
  let dropping = false;
  const stop = opts.stopAtLine ?? Infinity;
  const emit = (text: string, start = 0, end = text.length, plain = false) => {
    if (lineNo >= stop) return;
    onLine(text, start, end, ++lineNo, plain);
  };
  try {
    for (;;) {
      if (opts.signal?.aborted) return { lines: lineNo, bytes, aborted: true };
      if (lineNo >= stop) break;
      // the part line left from the chunk before goes first, and the read after it
      const room = carry ? carry.length : 0;
      const chunk = Buffer.allocUnsafe(room + opts.chunkBytes);
      if (carry) carry.copy(chunk);
      carry = undefined;
      const bytesRead = opts.sync ? readSync(fh.fd, chunk, room, opts.chunkBytes, null) : (await fh.read(chunk, room, opts.chunkBytes, null)).bytesRead;
      if (bytesRead === 0) {
        if (room > 0) carry = chunk.subarray(0, room);
        break;
      }
      bytes += bytesRead;
      let data = chunk.subarray(0, room + bytesRead);
      // the rest of an over-long line is dropped (no carry then)
      if (dropping) {
        const nl = data.indexOf(10);
        if (nl < 0) continue;
        data = data.subarray(nl + 1);
        dropping = false;
      }
      const last = data.lastIndexOf(10);
      if (last < 0) {
        if (data.length > MAX_LINE_BYTES) {
          emit(data.toString('latin1', 0, 65537));
          dropping = true;
        } else carry = Buffer.from(data);
        continue;
      }
      const text = data.toString('utf8', 0, last);
      const plain = isPlain(text);
      if (last + 1 < data.length) carry = Buffer.from(data.subarray(last + 1));
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) {
          emit(text, start, text.length, plain);
          break;
        }
        emit(text, start, nl, plain);
        start = nl + 1;
      }
      opts.onChunk?.(bytes, lineNo);
    }
    if (carry && carry.length > 0 && lineNo < stop) emit(carry.toString('utf8'));
    opts.onChunk?.(bytes, lineNo);
    return { lines: lineNo, bytes, aborted: false };
  } finally {
    await fh.close();
  }
}

