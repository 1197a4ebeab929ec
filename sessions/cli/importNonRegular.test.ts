// Issue 18 §6: importing a named pipe, a folder or a device gives one sentence and never opens
// it (opening a named pipe for reading blocks in open() until a writer comes, so a missing check
// hangs: the spawn timeout below is only a guard against that hang, not a speed figure).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ImportError, importTrace } from '../import/index.ts';
import { importAnyTrace } from '../tracedat/source.ts';
import { openSession } from '../reader.ts';

const bin = fileURLToPath(new URL('../../bin/mmu-lab.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mmulab-import-nonreg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fifo = join(dir, 'trace.fifo');
let mkfifo: string | undefined;
try {
  execFileSync('mkfifo', [fifo]);
} catch (e) {
  mkfifo = `mkfifo failed: ${(e as Error).message}`;
}
const folder = join(dir, 'traces');
mkdirSync(folder);

describe('import of files that are not regular files', () => {
  it.skipIf(mkfifo !== undefined)('the CLI says "a named pipe" in one line, exits 1 and writes nothing', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [bin, 'import', fifo, '-o', join(dir, 'fifo.mmulab')], { encoding: 'utf8', cwd: dir, timeout: 30_000 });
    console.log(`mmu-lab import <fifo>: exit ${r.status} after ${Date.now() - t0} ms`);
    expect(r.signal, 'the import hung on the named pipe').toBeNull();
    expect(r.status).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toBe(`mmu-lab: ${fifo} is a named pipe, not a trace file; MMU Lab imports regular files only.`);
    expect(r.stderr).not.toMatch(/\bat .*\.(ts|js|mjs):\d+/);
    expect(existsSync(join(dir, 'fifo.mmulab'))).toBe(false);
    expect(existsSync(join(dir, 'fifo.mmulab.part'))).toBe(false);
  });

  it.skipIf(mkfifo !== undefined)('mmu-lab record <fifo> says "a named pipe" in one line instead of waiting for a writer', () => {
    const r = spawnSync(process.execPath, [bin, 'record', fifo, '-o', join(dir, 'rec.mmulab')], { encoding: 'utf8', cwd: dir, timeout: 30_000 });
    expect(r.signal, 'record hung on the named pipe').toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mmu-lab: ${fifo} is a named pipe, not a scenario file; MMU Lab reads regular files only.\n`);
    expect(existsSync(join(dir, 'rec.mmulab'))).toBe(false);
  });

  it('the CLI says "a folder" in one line for a directory and exits 1', () => {
    const r = spawnSync(process.execPath, [bin, 'import', folder, '-o', join(dir, 'folder.mmulab')], { encoding: 'utf8', cwd: dir, timeout: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mmu-lab: ${folder} is a folder, not a trace file; MMU Lab imports regular files only.\n`);
    expect(existsSync(join(dir, 'folder.mmulab'))).toBe(false);
  });

  it.skipIf(mkfifo !== undefined)('importTrace, importAnyTrace and openSession refuse a pipe, a folder and a device without opening them', async () => {
    for (const [path, kind] of [
      [fifo, 'a named pipe'],
      [folder, 'a folder'],
      ['/dev/null', 'a device'],
    ] as const) {
      const out = join(dir, 'lib.mmulab');
      await expect(importAnyTrace(path, out)).rejects.toThrow(new ImportError(`${path} is ${kind}, not a trace file; MMU Lab imports regular files only.`));
      await expect(importTrace(path, out)).rejects.toBeInstanceOf(ImportError);
      await expect(importTrace(path, out)).rejects.toThrow(`is ${kind}, not a trace file`);
      expect(existsSync(out)).toBe(false);
      expect(openSession(path).diagnostics.map((d) => d.message)).toEqual([`${path} is ${kind}, not a session file; MMU Lab opens regular files only.`]);
    }
  });
});
