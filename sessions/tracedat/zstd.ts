/**
 * zstd for trace.dat (trace-cmd 3.x's default compression): zstddec, the reference decoder
 * compiled to WebAssembly (10–25× faster here than pure-JS decoders on trace pages). It starts
 * asynchronously (the module is compiled once, ~30 ms), so readers call `zstdReady()` first;
 * after that, decoding is synchronous.
 *
 * zstddec loads its module through `fetch` of a data: URL when `fetch` exists, which in Node
 * loads the whole undici HTTP client (~30 ms CPU, more wall time, at every import); without
 * `fetch` it instantiates the same bytes from a Buffer. So `fetch` is hidden for the one
 * synchronous call that picks the path.
 */
import { ZSTDDecoder } from 'zstddec';

let decoder: ZSTDDecoder | undefined;
let starting: Promise<void> | undefined;

export function zstdReady(): Promise<void> {
  starting ??= (async () => {
    const d = new ZSTDDecoder();
    await initWithoutFetch(d);
    decoder = d;
  })();
  return starting;
}

/** Decompress one zstd frame of `size` bytes; zstdReady() must have resolved. */
export function zstdDecompress(data: Uint8Array, size: number): Uint8Array {
  if (!decoder) throw new Error('the zstd decoder was used before zstdReady() resolved');
  return decoder.decode(data, size);
}

function initWithoutFetch(d: ZSTDDecoder): Promise<void> {
  const g = globalThis as { fetch?: unknown };
  const own = Object.getOwnPropertyDescriptor(g, 'fetch');
  if (typeof process === 'undefined' || !own?.configurable) return d.init();
  Object.defineProperty(g, 'fetch', { value: undefined, configurable: true, writable: true });
  try {
    return d.init();
  } finally {
    Object.defineProperty(g, 'fetch', own);
  }
}
