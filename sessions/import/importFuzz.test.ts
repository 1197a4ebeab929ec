/**
 * Hostile input for the importer (fixed seed): truncated, mutated and binary files never throw
 * anything but an ImportError and never hang; each gives either a clear one-line message and no
 * session, or a session that opens cleanly and whose message says what was skipped.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openSession } from '../reader.ts';
import { rng } from '../testing/synthetic.ts';
import { ImportError, importTrace, type ImportResult } from './importer.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mmulab-import-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => readFileSync(join(FIXTURES, f)));

type Mutation = (b: Buffer, r: () => number) => Buffer;
const int = (r: () => number, n: number) => Math.floor(r() * n);

const MUTATIONS: Record<string, Mutation> = {
  truncate: (b, r) => b.subarray(0, int(r, b.length)),
  flipBytes: (b, r) => {
    const c = Buffer.from(b);
    for (let i = 0; i < 1 + int(r, 40); i++) c[int(r, c.length)] = int(r, 256);
    return c;
  },
  binarySplice: (b, r) => {
    const at = int(r, b.length);
    const junk = Buffer.from(Array.from({ length: 1 + int(r, 2000) }, () => int(r, 256)));
    return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
  },
  shuffleLines: (b, r) => {
    const lines = b.toString('latin1').split('\n');
    for (let i = lines.length - 1; i > 0; i--) {
      const j = int(r, i + 1);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    }
    return Buffer.from(lines.join('\n'), 'latin1');
  },
  cutInsideLines: (b, r) => {
    const lines = b.toString('utf8').split('\n');
    return Buffer.from(lines.map((l) => (r() < 0.5 ? l.slice(0, int(r, l.length + 1)) : l)).join(r() < 0.5 ? '\n' : '\r\n'));
  },
  hugeLine: (b, r) => Buffer.concat([b.subarray(0, int(r, b.length)), Buffer.alloc(1_200_000 + int(r, 100_000), 'x'), Buffer.from('\n'), b]),
  repeatRecords: (b, r) => Buffer.concat(Array.from({ length: 2 + int(r, 30) }, () => b)),
  noNewlines: (b) => Buffer.from(b.toString('latin1').replace(/\n/g, ' '), 'latin1'),
  nulls: (b, r) => {
    const c = Buffer.from(b);
    for (let i = 0; i < c.length; i += 1 + int(r, 30)) c[i] = 0;
    return c;
  },
};

/** The contract for any input: an ImportError, or a result whose message tells the whole story. */
async function check(name: string, bytes: Buffer): Promise<ImportResult | ImportError> {
  const input = join(dir, name + '.txt');
  const out = join(dir, name + '.mmulab');
  writeFileSync(input, bytes);
  let r: ImportResult;
  try {
    r = await importTrace(input, out, { chunkBytes: 4096 + (bytes.length % 5000) });
  } catch (e) {
    expect(e, `${name}: only ImportError may escape`).toBeInstanceOf(ImportError);
    expect((e as Error).message).not.toMatch(/\n/);
    return e as ImportError;
  }
  expect(r.message.length).toBeGreaterThan(10);
  expect(r.message, name).not.toMatch(/\n|\bat .*\.ts:\d+/);
  if (!r.ok) {
    expect(existsSync(out), `${name}: no session for a failed import`).toBe(false);
    expect(r.message).toMatch(/no trace records|not trace text|binary/);
    return r;
  }
  const { session, diagnostics } = openSession(out);
  expect(diagnostics.filter((d) => d.severity !== 'info'), name).toEqual([]);
  expect(session!.eventCount).toBe(r.events);
  expect(r.complete).toBe(true);
  if (r.skipped > 0) expect(r.message).toMatch(new RegExp(`${r.skipped} lines skipped`));
  const source = (session!.header.scenario as { source: { skipped: number; skippedLines: { line: number }[] } }).source;
  expect(source.skipped).toBe(r.skipped);
  expect(source.skippedLines.length).toBe(Math.min(100, r.skipped));
  // every listed line number is a real line of the input
  const lineCount = bytes.toString('latin1').split('\n').length;
  for (const l of source.skippedLines) expect(l.line).toBeLessThanOrEqual(lineCount);
  return r;
}

describe('importer fuzz (fixed seed)', () => {
  it('truncated, mutated and spliced fixtures', async () => {
    const r = rng(20261123);
    const seen = { ok: 0, failed: 0, errors: 0 };
    const names = Object.keys(MUTATIONS);
    for (let i = 0; i < 120; i++) {
      const m = names[i % names.length]!;
      const src = fixtures[int(r, fixtures.length)]!;
      const res = await check(`case-${i}-${m}`, MUTATIONS[m]!(src, r));
      if (res instanceof ImportError) seen.errors++;
      else if (res.ok) seen.ok++;
      else seen.failed++;
    }
    // the cases reach both outcomes
    expect(seen.ok).toBeGreaterThan(30);
    expect(seen.failed).toBeGreaterThan(0);
  });

  it('binary files and binary captures get a clear message', async () => {
    const r = rng(7);
    const random = Buffer.from(Array.from({ length: 100_000 }, () => int(r, 256)));
    const a = (await check('random', random)) as ImportResult;
    expect(a.message).toMatch(/not trace text \(binary data\)/);
    const dat = Buffer.concat([Buffer.from([0x17, 0x08, 0x44]), Buffer.from('tracing6\0\0\0'), random.subarray(0, 5000)]);
    expect(((await check('trace.dat', dat)) as ImportResult).message).toMatch(/trace-cmd report .* > trace\.txt/);
    const perf = Buffer.concat([Buffer.from('PERFILE2'), random.subarray(0, 5000)]);
    expect(((await check('perf.data', perf)) as ImportResult).message).toMatch(/perf script -i/);
    expect(((await check('empty', Buffer.alloc(0))) as ImportResult).message).toMatch(/no trace records found in empty\.txt: 0 lines/);
  });

  it('lines built to make regular expressions backtrack (long blank runs, many dashes) stay linear', async () => {
    // 200 lines of 60,000 characters: quadratic backtracking would take minutes here
    const hostile = [
      'x' + ' '.repeat(60_000) + 'y [',
      'a' + '\t'.repeat(60_000) + '1 [0] 1.0: x:',
      'a-1 '.repeat(15_000) + '[',
      'q ' + '1 '.repeat(30_000) + '[0] 1.0:',
      'kvm_exit: ' + 'reason '.repeat(8_000) + ' rip',
    ];
    const lines = Array.from({ length: 200 }, (_, i) => hostile[i % hostile.length]!);
    lines.push('qemu-1 [000] d.... 1.000001: kvm_exit: vcpu 0 reason HLT rip 0x1 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0');
    const r = (await check('hostile', Buffer.from(lines.join('\n')))) as ImportResult;
    expect(r.ok).toBe(true);
    expect(r.exits).toBe(1);
    expect(r.skipped).toBe(200 - 40); // the kvm_exit lines of hostile[4] are records (raw, with an undecodable reason)
  }, 30_000);

  it('files that cannot be read or written: one ImportError line', async () => {
    await expect(importTrace(join(dir, 'missing.txt'), join(dir, 'x.mmulab'))).rejects.toThrow(/cannot read .*missing\.txt \(ENOENT\)/);
    await expect(importTrace(dir, join(dir, 'x.mmulab'))).rejects.toBeInstanceOf(ImportError);
    const input = join(FIXTURES, 'ftrace-kvm-msr-with-header.txt');
    await expect(importTrace(input, join(dir, 'no-such-dir', 'x.mmulab'))).rejects.toThrow(/cannot write .*x\.mmulab/);
  });

  it('cancelling keeps a readable session marked incomplete that says where it stopped', async () => {
    const big = Buffer.concat(Array.from({ length: 400 }, () => fixtures.find((f) => f.includes('fast_page_fault'))!));
    const input = join(dir, 'big.txt');
    writeFileSync(input, big);
    const ac = new AbortController();
    let calls = 0;
    const out = join(dir, 'cancelled.mmulab');
    const r = await importTrace(input, out, {
      chunkBytes: 4096,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === 'import' && ++calls === 3) ac.abort();
      },
    });
    expect(r.cancelled).toBe(true);
    expect(r.complete).toBe(false);
    expect(r.message).toMatch(/^import cancelled at line \d+ of \d+; kept /);
    const { session } = openSession(out);
    expect(session!.complete).toBe(false);
    expect(session!.eventCount).toBe(r.events);
    expect(r.events).toBeGreaterThan(0);
  });
});
