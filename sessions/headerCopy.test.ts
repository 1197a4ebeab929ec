import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CHUNK, PREAMBLE_BYTES, readU32 } from './format.ts';
import { openSession } from './reader.ts';
import { SessionWriter } from './writer.ts';
import { syntheticEvents } from './testing/synthetic.ts';

// Issue 18 §4: one flipped byte in the header no longer makes an intact file unreadable: the
// footer carries a second copy of the header (format 1.1), and `mmu-lab verify --repair -o`
// writes what can be read as a clean file.

const dir = mkdtempSync(join(tmpdir(), 'mmulab-hdr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bin = fileURLToPath(new URL('../bin/mmu-lab.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, maxBuffer: 1 << 28 });

const VCPUS = [2, 1];
const events = syntheticEvents(5000, { seed: 11, vcpus: VCPUS });
const path = join(dir, 'good.mmulab');
const w = SessionWriter.create(path, { scenario: { name: 'hdr', seed: 11, vms: VCPUS.map((vcpus) => ({ vcpus })) }, vcpus: VCPUS }, { chunkEvents: 700 });
for (const e of events) w.append(e);
w.close({ complete: true });
const good = new Uint8Array(readFileSync(path));
const asText = (xs: unknown[]) => JSON.stringify(xs, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
const goodEvents = asText([...openSession(good).session!.iterate()]);
const headLength = readU32(good, PREAMBLE_BYTES + 4);

function flipped(at: number): Uint8Array {
  const b = good.slice();
  b[at]! ^= 0x20;
  return b;
}

describe('a damaged header', () => {
  it('the file starts with a header chunk that a flip breaks', () => {
    expect(readU32(good, PREAMBLE_BYTES)).toBe(CHUNK.HEAD);
    expect(openSession(flipped(PREAMBLE_BYTES + 8 + 40)).session).toBeDefined();
  });

  for (const [what, at] of [
    ['a byte of its JSON', PREAMBLE_BYTES + 8 + 40],
    ['its checksum', PREAMBLE_BYTES + 8 + headLength],
    ['its leading length', PREAMBLE_BYTES + 5],
    ['its trailing length', PREAMBLE_BYTES + 12 + headLength + 1],
    ['its type', PREAMBLE_BYTES + 1],
  ] as const)
    it(`opens from the footer's copy when ${what} is flipped, with every event`, () => {
      const { session, diagnostics } = openSession(flipped(at));
      expect(diagnostics.map((d) => [d.severity, d.code])).toEqual([['dataLoss', 'header_recovered']]);
      expect(diagnostics[0]!.message).toMatch(/copy in the footer/);
      expect(asText([...session!.iterate()])).toBe(goodEvents);
      expect(session!.header.vcpus).toEqual(VCPUS);
    });

  it('a file from before the copy (format 1.0) still says the header is damaged', () => {
    const old = new Uint8Array(readFileSync(fileURLToPath(new URL('./fixtures/v1/multi-vcpu.mmulab', import.meta.url))));
    old[PREAMBLE_BYTES + 8 + 40]! ^= 0x20;
    const { session, diagnostics } = openSession(old);
    expect(session).toBeUndefined();
    expect(diagnostics.map((d) => [d.severity, d.code])).toEqual([['error', 'header_damaged']]);
  });

  it('verify --repair -o writes a clean file with every event, notes and keyframes', () => {
    writeFileSync(join(dir, 'bad.mmulab'), flipped(PREAMBLE_BYTES + 8 + 40));
    const r = cli('verify', '--repair', '-o', 'fixed.mmulab', 'bad.mmulab');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(2); // the file is damaged, though every event was recovered
    expect(r.stdout).toMatch(/header_recovered/);
    expect(r.stdout).toMatch(/^Repaired: 5 000 events/m);
    const v = cli('verify', 'fixed.mmulab');
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^OK: /m);
    expect(cli('export', 'fixed.mmulab', '-f', 'jsonl').stdout).toBe(cli('export', 'good.mmulab', '-f', 'jsonl').stdout);
  });

  it('verify --repair of a file that lost a chunk keeps the rest, and never writes over its input', () => {
    const corrupt = fileURLToPath(new URL('./fixtures/corrupt/001-flipped-event-body.mmulab', import.meta.url));
    const r = cli('verify', '--repair', '-o', 'fixed-001.mmulab', corrupt);
    expect(r.status).toBe(2);
    const src = openSession(corrupt).session!;
    const readable = [...src.iterate()].length;
    const fixed = openSession(join(dir, 'fixed-001.mmulab'));
    expect(fixed.diagnostics).toEqual([]);
    expect(fixed.session!.eventCount).toBe(readable);
    const self = cli('verify', '--repair', '-o', 'bad.mmulab', 'bad.mmulab');
    expect(self.status).toBe(1);
    expect(self.stderr).toMatch(/must name a new file/);
    expect(cli('verify', '--repair', 'bad.mmulab').stderr).toMatch(/needs -o/);
  });
});
