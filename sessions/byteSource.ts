/**
 * Where the session reader's bytes come from: a file read on demand with positioned reads, or
 * bytes already in memory. The reader asks for small ranges (a chunk's framing, one chunk), so
 * opening a large session reads a few bytes per chunk instead of the whole file.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ByteSource {
  /** Bytes the source had when it was opened; later appends are not seen. */
  readonly size: number;
  /**
   * `length` bytes at `offset`, or fewer where the source ends. Throws SourceError when the
   * bytes cannot be read (the file was removed or cut short since it was opened).
   */
  read(offset: number, length: number): Uint8Array;
}

export class SourceError extends Error {}

export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
  };
}

/**
 * A file read with positioned reads. It holds a descriptor only while `hold` runs (the open
 * scan makes thousands of small reads); otherwise each read opens the file for itself, so a
 * reader that is dropped without being closed leaks nothing.
 */
export class FileSource implements ByteSource {
  private fd: number | undefined;

  constructor(
    private readonly path: string,
    readonly size: number,
  ) {}

  hold<T>(fn: () => T): T {
    if (this.fd !== undefined) return fn();
    this.fd = openSync(this.path, 'r');
    try {
      return fn();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  read(offset: number, length: number): Uint8Array {
    const want = Math.max(0, Math.min(length, this.size - offset));
    const out = Buffer.allocUnsafe(want);
    let got: number;
    try {
      got = this.fd !== undefined ? this.readAll(this.fd, out, offset) : this.hold(() => this.readAll(this.fd!, out, offset));
    } catch (e) {
      throw new SourceError(`the file could not be read (${(e as { code?: string }).code ?? 'error'}); it may have been moved or removed since it was opened`);
    }
    if (got < want) throw new SourceError('the file is shorter than when it was opened; it was changed on disk');
    return new Uint8Array(out.buffer, out.byteOffset, want);
  }

  private readAll(fd: number, out: Buffer, offset: number): number {
    let got = 0;
    while (got < out.length) {
      const n = readSync(fd, out, got, out.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }
}

/**
 * A source that reads `window` bytes at a time and serves small reads from the last window:
 * a scan's reads come in pairs (one chunk's trailer, the next chunk's head) that one read covers.
 */
export function windowed(src: ByteSource, window = 128): ByteSource {
  let at = 0;
  let buf: Uint8Array = new Uint8Array(0);
  return {
    size: src.size,
    read(offset, length) {
      if (offset >= at && offset + length <= at + buf.length) return buf.subarray(offset - at, offset - at + length);
      if (length >= window) return src.read(offset, length);
      at = offset;
      buf = src.read(offset, window);
      return buf.subarray(0, Math.min(length, buf.length));
    },
  };
}
