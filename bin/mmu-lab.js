#!/usr/bin/env node
// The `mmu-lab` command: runs the bundled CLI, dist/cli/mmu-lab.mjs (plain JavaScript: no
// TypeScript compiler at run time). An installed package carries the bundle and no sources.
// In a source checkout the bundle is built here first when it is missing or older than one of
// the sources it was built from, so `npx mmu-lab` works right after `npm ci` and always runs
// the sources as they are.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Paths as strings, not URLs: this runs before every command, and a URL per source file stat'ed
// (~200 of them) cost ~2 ms of CPU more than the stats themselves.
const root = fileURLToPath(new URL('../', import.meta.url));
const bundle = `${root}dist/cli/mmu-lab.mjs`;
const inputsFile = `${root}dist/cli/inputs.json`;
const isCheckout = existsSync(`${root}scripts/build.mjs`) && existsSync(`${root}sessions/cli/main.ts`);

/** Whether the checkout's bundle must be (re)built: a stat of each source it was built from. */
function stale() {
  if (!existsSync(bundle)) return true;
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(inputsFile, 'utf8'));
  } catch {
    return true;
  }
  for (const input of manifest.inputs) {
    try {
      if (statSync(root + input).mtimeMs > manifest.builtAtMs) return true;
    } catch {
      return true; // a source was removed or renamed
    }
  }
  return false;
}

if (isCheckout && stale()) {
  const { buildCli } = await import('../scripts/build.mjs');
  try {
    await buildCli();
  } catch (error) {
    process.stderr.write(`mmu-lab: could not build the CLI from the sources: ${String(error?.message ?? error).split('\n')[0]}\n`);
    process.exit(1);
  }
} else if (!existsSync(bundle)) {
  process.stderr.write(`mmu-lab: this installation has no ${bundle}; reinstall the package\n`);
  process.exit(1);
}
await import(pathToFileURL(bundle).href);
