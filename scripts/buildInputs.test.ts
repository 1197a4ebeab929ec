// The CLI bundle's list of sources (dist/cli/inputs.json) is what bin/mmu-lab.js stats before
// every command: an entry that is no file (a virtual module of the build) read as a removed
// source, so every command rebuilt the bundle first (~0.35 s wall per start).
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCli, root } from './build.mjs';

const temp = mkdtempSync(join(tmpdir(), 'mmulab-cli-inputs-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('CLI bundle inputs', () => {
  it('lists only files of the checkout (what bin/mmu-lab.js can stat)', async () => {
    const manifest = await buildCli(join(temp, 'cli'), 0);
    expect(manifest.inputs.length).toBeGreaterThan(50);
    const notFiles = manifest.inputs.filter((p) => !existsSync(join(root, p)) || !statSync(join(root, p)).isFile());
    expect(notFiles).toEqual([]);
  }, 60_000);
});
