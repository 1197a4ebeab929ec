/**
 * Where the VM worker lives (a bundle beside the host's bundle, or the TypeScript source run
 * through tsx) and how one worker thread is started from there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { WORKER_HEAP_MB } from './runLimits.ts';

/** Set by the esbuild bundles (scripts/build.mjs) to the worker bundle's file name beside them. */
declare const __MMULAB_WORKER__: string | undefined;

export interface WorkerLocation {
  /** The worker's entry file: a bundle (.cjs/.mjs) or the TypeScript source. */
  file: string;
  /** For a .ts entry: the URL of tsx's ESM API, registered inside the worker before the import. */
  tsxApi?: string;
}

/**
 * The URL of `tsx/esm/api`. (`--import tsx` in a worker's execArgv does not take effect on
 * Node 20, so the worker registers tsx itself.)
 */
function tsxApiUrl(): string {
  const meta = import.meta as ImportMeta & { resolve?: (specifier: string) => string };
  try {
    if (typeof meta.resolve === 'function') return meta.resolve('tsx/esm/api');
  } catch {
    // fall back to the package layout below
  }
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports?: Record<string, unknown> };
  const entry = pkg.exports?.['./esm/api'] as { import?: string | { default?: string } } | undefined;
  const rel = typeof entry?.import === 'string' ? entry.import : (entry?.import?.default ?? './dist/esm/api/index.mjs');
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
}

/** A file inside `app.asar` as electron-builder's asarUnpack leaves it: in `app.asar.unpacked`. */
export function unpackedPath(file: string): string {
  return file.replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
}

/** Where the worker lives: beside the bundle when bundled, else the TypeScript source run through tsx. */
export function defaultWorkerLocation(): WorkerLocation {
  if (typeof __MMULAB_WORKER__ === 'string') {
    const dir = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
    // Packaged: the worker is unpacked beside the asar (electron-builder asarUnpack), so the
    // thread starts from a plain file, whatever a worker's support for archives.
    return { file: unpackedPath(join(dir, __MMULAB_WORKER__)) };
  }
  const file = fileURLToPath(new URL('./vmWorker.ts', import.meta.url));
  if (!existsSync(file)) throw new Error(`VM worker not found at ${file}`);
  return { file, tsxApi: tsxApiUrl() };
}

/** Start a worker thread from a location (a bundle directly; TypeScript through a tsx bootstrap). */
export function spawnWorker(location: WorkerLocation, workerData: unknown, name: string, heapMb = WORKER_HEAP_MB): Worker {
  // A runaway VM fails on its own (ERR_WORKER_OUT_OF_MEMORY) instead of taking the host down.
  const resourceLimits = { maxOldGenerationSizeMb: heapMb };
  if (!location.tsxApi) return new Worker(location.file, { workerData, name, resourceLimits });
  const bootstrap =
    `import(${JSON.stringify(location.tsxApi)})` +
    `.then((api) => { api.register(); return import(${JSON.stringify(pathToFileURL(location.file).href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData, name, resourceLimits });
}
