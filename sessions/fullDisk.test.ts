import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openSession } from './reader.ts';

// Issue 18 §6: a recording that cannot be finished (here: a full disk, a small tmpfs mounted for
// the test) leaves either nothing, or a file under its final name that every reader reports as
// incomplete, and the message says which. While recording, the file has a temporary name.

const bin = fileURLToPath(new URL('../bin/mmu-lab.js', import.meta.url));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    spawnSync('umount', [m]);
    rmSync(m, { recursive: true, force: true });
  }
});

/** A tmpfs of `size` bytes, or the reason it cannot be made here. */
function smallDisk(size: string): string | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs (${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}); needs root` };
  }
  mounts.push(dir);
  return dir;
}

const record = (out: string, maxEvents: number) => // kbuild-zap: about 15 600 events, 56 KB
  spawnSync(process.execPath, [bin, 'record', 'kbuild-zap', '-o', out, '--max-events', String(maxEvents), '-q'], { encoding: 'utf8', timeout: 120_000 });

describe('recording onto a full disk', () => {
  it('stops with one sentence, and the file it leaves opens as an incomplete recording', (ctx) => {
    const disk = smallDisk('16k');
    if (typeof disk !== 'string') {
      console.log(`skipped: ${disk.skip}`);
      return ctx.skip();
    }
    const out = join(disk, 'big.mmulab');
    const r = record(out, 300_000);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^mmu-lab: Writing .*big\.mmulab failed \(the disk is full\) after [\d ]+ events: the file holds the [\d ]+ events written before and is marked incomplete/);
    // no temporary file left behind; the partial recording is under its final name
    expect(readdirSync(disk)).toEqual(['big.mmulab']);
    const { session, diagnostics } = openSession(out);
    expect(diagnostics.map((d) => d.code)).toContain('recording_incomplete');
    const kept = Number(/holds the ([\d ]+) events/.exec(lines[0]!)![1]!.replace(/ /g, ''));
    expect(session!.eventCount).toBe(kept);
    expect(kept).toBeGreaterThan(0);
  });

  it('a disk too full for even the header leaves no file, and says so', (ctx) => {
    const disk = smallDisk('4k');
    if (typeof disk !== 'string') {
      console.log(`skipped: ${disk.skip}`);
      return ctx.skip();
    }
    writeFileSync(join(disk, 'filler'), 'x'); // the one page the tmpfs has
    const out = join(disk, 'none.mmulab');
    const r = record(out, 1000);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^mmu-lab: Writing .*none\.mmulab failed \(the disk is full\) before any event was written; no file was left\.$/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(disk)).toEqual(['filler']);
  });

  it('a finished recording appears under its name only at the end (no .part left)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmulab-atomic-'));
    try {
      const r = record(join(dir, 'ok.mmulab'), 2000);
      expect(r.status).toBe(0);
      expect(readdirSync(dir)).toEqual(['ok.mmulab']);
      expect(openSession(join(dir, 'ok.mmulab')).diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('opening what is not a regular file', () => {
  it('a folder, a named pipe and a device get one sentence each, without waiting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmulab-notfile-'));
    try {
      const fifo = join(dir, 'pipe.mmulab');
      const made = spawnSync('mkfifo', [fifo]).status === 0;
      const cases: [string, RegExp][] = [
        [dir, /is a folder, not a session file; MMU Lab opens regular files only\.$/],
        ['/dev/zero', /is a device, not a session file/],
        ...(made ? ([[fifo, /is a named pipe, not a session file/]] as [string, RegExp][]) : []),
      ];
      for (const [path, want] of cases) {
        const { session, diagnostics } = openSession(path);
        expect(session).toBeUndefined();
        expect(diagnostics.map((d) => d.code)).toEqual(['cannot_open']);
        expect(diagnostics[0]!.message).toMatch(want);
        const r = spawnSync(process.execPath, [bin, 'info', path], { encoding: 'utf8', timeout: 30_000 });
        expect(r.status).toBe(1);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
