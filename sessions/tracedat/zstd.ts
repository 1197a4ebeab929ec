/**
 * zstd for trace.dat (trace-cmd 3.x's default compression): zstddec, the reference decoder
 * compiled to WebAssembly (10–25× faster here than pure-JS decoders on trace pages). It starts
 * asynchronously (the module is compiled once, ~30 ms), so readers call `zstdReady()` first;
 * after that, decoding is synchronous.
 */
import { ZSTDDecoder } from 'zstddec';

let decoder: ZSTDDecoder | undefined;
let starting: Promise<void> | undefined;

export function zstdReady(): Promise<void> {
  starting ??= (async () => {
    const d = new ZSTDDecoder();
    await d.init();
    decoder = d;
  })();
  return starting;
}

/** Decompress one zstd frame of `size` bytes; zstdReady() must have resolved. */
export function zstdDecompress(data: Uint8Array, size: number): Uint8Array {
  if (!decoder) throw new Error('the zstd decoder was used before zstdReady() resolved');
  return decoder.decode(data, size);
}
