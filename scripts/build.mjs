// `npm run build`: the renderer (Vite, into dist/renderer) and the Node/Electron bundles
// (esbuild):
//   dist/electron/main.cjs, dist/electron/preload.cjs, dist/electron/vmWorker.cjs, importReader.cjs
//   dist/host/browser-host.mjs, dist/host/vmWorker.mjs, importReader.mjs
//   dist/cli/mmu-lab.mjs (the `mmu-lab` command, split into chunks that load per command)
// `node scripts/build.mjs --if-stale` builds only when an output is missing or older than
// the sources (what `npm start` uses).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const root = fileURLToPath(new URL('..', import.meta.url));

export const OUTPUTS = [
  'dist/renderer/index.html',
  'dist/electron/main.cjs',
  'dist/electron/preload.cjs',
  'dist/electron/vmWorker.cjs',
  'dist/electron/importReader.cjs',
  'dist/host/browser-host.mjs',
  'dist/host/vmWorker.mjs',
  'dist/host/importReader.mjs',
  'dist/cli/mmu-lab.mjs',
];
const SOURCES = ['core', 'sessions', 'electron', 'renderer', 'vite.config.ts', 'index.html', 'package.json', 'scripts/build.mjs'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    if (entry.isFile() && /\.test\.ts$/.test(entry.name)) continue;
    newest = Math.max(newest, newestMtime(join(path, entry.name)));
  }
  return newest;
}

/** Why a build is needed (a sentence), or undefined when dist is up to date. */
export function staleReason() {
  let oldest = Infinity;
  for (const out of OUTPUTS) {
    const path = join(root, out);
    if (!existsSync(path)) return `${out} is missing`;
    oldest = Math.min(oldest, statSync(path).mtimeMs);
  }
  for (const src of SOURCES) {
    if (newestMtime(join(root, src)) > oldest) return `${src} changed since the last build`;
  }
  return undefined;
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  absWorkingDir: root,
  external: ['electron', 'bufferutil', 'utf-8-validate'],
  logOverride: { 'empty-import-meta': 'silent' },
};

/** The esbuild bundles, into `outRoot` (default dist/; tests build into a temporary folder). */
export async function buildBundles(outRoot = join(root, 'dist')) {
  // Electron: CommonJS, as Electron's main process and sandboxed preloads want.
  await esbuild.build({
    ...common,
    entryPoints: { main: 'electron/main/main.ts', vmWorker: 'electron/host/vmWorker.ts', importReader: 'sessions/import/parseWorker.ts' },
    outdir: join(outRoot, 'electron'),
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    define: { __MMULAB_WORKER__: '"vmWorker.cjs"', __MMULAB_PARSE_WORKER__: '"importReader.cjs"' },
  });
  await esbuild.build({
    ...common,
    entryPoints: { preload: 'electron/preload/preload.ts' },
    outdir: join(outRoot, 'electron'),
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    platform: 'browser',
    target: 'chrome130',
    minify: true,
  });
  // Browser host: an ES module with a `require` for the CommonJS dependencies (ws).
  await esbuild.build({
    ...common,
    entryPoints: { 'browser-host': 'electron/host/browserHostMain.ts', vmWorker: 'electron/host/vmWorker.ts', importReader: 'sessions/import/parseWorker.ts' },
    outdir: join(outRoot, 'host'),
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    define: { __MMULAB_WORKER__: '"vmWorker.mjs"', __MMULAB_PARSE_WORKER__: '"importReader.mjs"' },
    banner: { js: "import { createRequire as __mmulabCreateRequire } from 'node:module'; const require = __mmulabCreateRequire(import.meta.url);" },
  });
  await buildCli(join(outRoot, 'cli'), 0);
}

/** The CLI bundle's folder and the list of sources it was built from (what bin/mmu-lab.js checks). */
export const CLI_DIR = join(root, 'dist', 'cli');
export const CLI_INPUTS = 'inputs.json';

function packageVersion() {
  return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
}

/**
 * Commands whose modules are bundled into one file of their own instead of the split chunks:
 * the CLI imports it as one module. Node's ES module loader pays per file (resolve, read,
 * compile, link: `mmu-lab import` loaded 17 chunks, ~11 ms more CPU than the same code as one
 * file), which is a large part of importing a small trace. The specifier is the one
 * sessions/cli/main.ts's dynamic import names; the file name carries a content hash, as chunks do.
 */
const STANDALONE_COMMANDS = [{ specifier: './importCmd.ts', source: 'sessions/cli/importCmd.ts', name: 'cmd-import' }];

/**
 * commander requires node:child_process when it loads, for the executable subcommands it can
 * spawn (mmu-lab has none): Node then loads child_process, dgram and their internals at every
 * start (~2-3 ms of CPU of `mmu-lab --version`). This gives commander a child_process whose
 * spawn loads the real one when called.
 */
const lazyCommanderChildProcess = {
  name: 'lazy-commander-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'mmulab-lazy' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'mmulab-lazy' }, () => ({
      contents: "module.exports = { spawn: (...args) => require('node:child_process').spawn(...args) };",
      loader: 'js',
      resolveDir: root,
    }));
  },
};

/**
 * The `mmu-lab` command as ES modules in `outDir` (default dist/cli): the entry holds commander
 * and the command table; each command's modules are chunks loaded when it runs (the
 * STANDALONE_COMMANDS: one file each), so `--version` evaluates almost nothing. The workers
 * `serve` and `import` start are entries beside it.
 *
 * Safe to run from several processes at once (bin/mmu-lab.js builds on demand, and tests start
 * many CLIs in parallel): files are written under temporary names and renamed into place, the
 * chunk names carry a content hash, and the inputs list that marks the build fresh comes last.
 */
export async function buildCli(outDir = CLI_DIR, keepOldChunksMs = 3600_000) {
  const startedMs = Date.now();
  const shared = {
    ...common,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    write: false,
    metafile: true,
    define: {
      __MMULAB_WORKER__: '"vmWorker.mjs"',
      __MMULAB_PARSE_WORKER__: '"importReader.mjs"',
      __MMULAB_VERSION__: JSON.stringify(packageVersion()),
    },
    banner: { js: "import { createRequire as __mmulabCreateRequire } from 'node:module'; const require = __mmulabCreateRequire(import.meta.url);" },
  };
  const standalone = await Promise.all(
    STANDALONE_COMMANDS.map(async (cmd) => {
      const built = await esbuild.build({ ...shared, entryPoints: { [cmd.name]: cmd.source }, entryNames: '[name]-[hash]' });
      const file = built.outputFiles.find((f) => f.path.endsWith('.mjs'));
      return { ...cmd, built, file: `./${basename(file.path)}` };
    }),
  );
  const result = await esbuild.build({
    ...shared,
    entryPoints: { 'mmu-lab': 'electron/host/cli.ts', vmWorker: 'electron/host/vmWorker.ts', importReader: 'sessions/import/parseWorker.ts' },
    splitting: true,
    chunkNames: 'chunk-[hash]',
    plugins: [
      lazyCommanderChildProcess,
      {
        name: 'standalone-commands',
        setup(b) {
          for (const cmd of standalone) {
            const filter = new RegExp(`^${cmd.specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`);
            b.onResolve({ filter }, (args) => (args.kind === 'dynamic-import' ? { path: cmd.file, external: true } : undefined));
          }
        },
      },
    ],
  });
  mkdirSync(outDir, { recursive: true });
  const written = new Set();
  // Chunks and the standalone commands first, entries after: a CLI starting meanwhile finds every
  // file its entry names.
  const rank = (f) => (/[\\/]chunk-/.test(f.path) ? 0 : f.standalone ? 1 : 2);
  const files = [...standalone.flatMap((c) => c.built.outputFiles.map((f) => ({ path: f.path, contents: f.contents, standalone: true }))), ...result.outputFiles].sort((a, b) => rank(a) - rank(b));
  for (const file of files) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.path.endsWith('.mjs') ? asciiComments(file.contents) : file.contents);
    renameSync(tmp, file.path);
    written.add(file.path);
  }
  // Chunks of earlier builds: removed once an hour old by default (a CLI started before may
  // still load them); `npm run build` removes them all, so `npm pack` takes no stale chunk.
  for (const name of readdirSync(outDir)) {
    const path = join(outDir, name);
    if (!written.has(path) && name !== CLI_INPUTS && !name.endsWith('.tmp') && Date.now() - statSync(path).mtimeMs >= keepOldChunksMs) rmSync(path, { force: true });
  }
  // (a virtual module, `namespace:path`, is no file: listed, bin/mmu-lab.js found it missing and rebuilt at every start)
  const inputs = [...new Set([result, ...standalone.map((c) => c.built)].flatMap((r) => Object.keys(r.metafile.inputs)))].filter(
    (p) => !p.includes('node_modules') && !/^[\w-]+:/.test(p),
  );
  const manifest = { builtAtMs: startedMs, inputs: [...inputs, 'package.json', 'scripts/build.mjs'] };
  const tmp = join(outDir, `${CLI_INPUTS}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(manifest) + '\n');
  renameSync(tmp, join(outDir, CLI_INPUTS));
  return manifest;
}

/**
 * A CLI module's JavaScript as pure ASCII. Node decodes a module's UTF-8 source into a string
 * that V8 keeps one byte per character only when every character is ASCII: one `…` in a comment
 * made the 300 KB import module a two-byte string, slower to decode and to scan, at its load and
 * again at each lazily compiled function's first call (~0.4 ms of the module's load; kvm-5vm
 * import wall min -3 ms). esbuild's ascii charset (its default) already escapes strings, regular
 * expressions and names, so what is left is comments: each non-ASCII UTF-16 unit becomes `?` (the
 * source map's columns stay right). Kept as it was if esbuild reads the code any differently.
 */
function asciiComments(contents) {
  const text = Buffer.from(contents).toString('utf8');
  if (!/[\u0080-\uffff]/.test(text)) return contents;
  const ascii = text.replace(/[\u0080-\uffff]/g, '?');
  const code = (js) => esbuild.transformSync(js, { minifyWhitespace: true, legalComments: 'none', format: 'esm', logLevel: 'silent' }).code;
  return code(ascii) === code(text) ? Buffer.from(ascii, 'latin1') : contents;
}

export function buildRenderer() {
  const result = spawnSync('npx', ['vite', 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`vite build failed (exit ${result.status ?? result.signal})`);
}

export async function build() {
  const started = Date.now();
  buildRenderer();
  await buildBundles();
  console.log(`Built ${OUTPUTS.map((o) => relative(root, join(root, o))).join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ifStale = process.argv.includes('--if-stale');
  const reason = staleReason();
  if (ifStale && !reason) {
    console.log('Build is up to date.');
  } else {
    if (ifStale) console.log(`Building: ${reason}.`);
    try {
      await build();
    } catch (error) {
      console.error(`Build failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    }
  }
}
