/**
 * zstd for trace.dat (trace-cmd 3.x's default compression): zstd's own decompressor, compiled
 * with the reader's loop into one WebAssembly module (wasm/pack.c, wasm/zstd/). A reader
 * decompresses each CPU chunk straight into its window (PackCore.unzstd); this is for the rest,
 * the metadata's sections, in an instance of its own.
 */
import { instantiate, unzstdWith, type PackExports } from './packCore.ts';

let sections: PackExports | undefined;

/** Decompress one zstd frame of `size` bytes. Throws zstd's words when it does not decompress. */
export function zstdDecompress(data: Uint8Array, size: number): Uint8Array {
  const x = (sections ??= instantiate());
  const n = unzstdWith(x, data, () => x.unzstd(data.length, size));
  return new Uint8Array(x.memory.buffer, x.zstd_output(), n).slice();
}
