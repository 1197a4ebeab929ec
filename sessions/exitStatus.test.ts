import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Issue 18 §6: info, verify and export exit 0 when nothing was lost, 2 when the session opens
// but data was lost, 1 when it cannot be read (docs/cli.md). The corrupt-file corpus says, per
// file, which diagnostics a reader gives at open and after reading every event; the statuses
// follow from those: `info` reads the framing, footer and index (what is known at open) and
// checks every event chunk's checksum, while `verify` and `export` also decode every event
// chunk; all three see damage inside any chunk's body.

const bin = fileURLToPath(new URL('../bin/mmu-lab.js', import.meta.url));
const corpus = fileURLToPath(new URL('./fixtures/corrupt/', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'mmulab-exit-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

type Row = [string, string, number | null];
const expected = JSON.parse(readFileSync(corpus + 'expected.json', 'utf8')) as Record<string, { atOpen?: Row[]; afterReading?: Row[]; error?: Row }>;
const statusFor = (rows: Row[] | undefined, error?: Row) => (error ? 1 : rows!.some((r) => r[0] === 'dataLoss') ? 2 : 0);

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('exit statuses over the corrupt-file corpus', () => {
  for (const file of readdirSync(corpus).filter((f) => f.endsWith('.mmulab'))) {
    it(file, { timeout: 60_000 }, () => {
      const want = expected[file]!;
      const path = corpus + file;
      // info checks every chunk's checksum: it exits as a full read does, and says every loss it found
      const info = cli('info', path);
      expect(info.status).toBe(statusFor(want.afterReading, want.error));
      if (!want.error) expect(info.status).toBe(info.stdout.includes('[data loss]') ? 2 : 0);
      expect(cli('verify', path).status).toBe(statusFor(want.afterReading, want.error));
      const exp = cli('export', path, '-f', 'jsonl', '-o', join(out, `${file}.jsonl`));
      expect(exp.status).toBe(statusFor(want.afterReading, want.error));
      // the loss is said on stderr too, one line per loss, never a stack
      expect(exp.stderr).not.toMatch(/^\s+at /m);
      if (exp.status === 2) expect(exp.stderr).toMatch(/^mmu-lab: warning: /);
    });
  }
});
