/**
 * The trace.dat decoder against trace-cmd's own reading of the same files: the stored
 * `trace-cmd report` text of the real-6.18 samples (every record's comm, pid, cpu, time and
 * event, in order), and, where trace-cmd is installed, `trace-cmd report -R` (every field's
 * value) and the versions and compressions `trace-cmd convert` writes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deflateSync } from 'node:zlib';
import { TraceDatError, decompress } from './file.ts';
import { fieldsObject, type FieldValue } from './fields.ts';
import { TraceDatReader } from './reader.ts';
import { REAL_618_DIR } from '../testing/realPaths.ts';

const DIR = REAL_618_DIR;
const SAMPLES = ['demand-cpl3', 'gpf-cpl0', 'cr3-cpl0'];
const hasTraceCmd = spawnSync('trace-cmd', ['--version']).status !== null;
if (!hasTraceCmd) console.log('trace.dat tests: trace-cmd is not installed; the field-by-field and version/compression checks are skipped');

const tmp = mkdtempSync(join(tmpdir(), 'tracedat-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Line {
  comm: string;
  pid: number;
  cpu: number;
  us: number;
  event: string;
  rest: string;
}

const REPORT = /^\s*(.*?)-(\d+)\s+\[(\d+)\]\s+(\d+)\.(\d{6}):\s+(\w+):\s*(.*)$/;

function parseReport(text: string): Line[] {
  const out: Line[] = [];
  for (const l of text.split('\n')) {
    const m = REPORT.exec(l);
    if (m) out.push({ comm: m[1]!, pid: Number(m[2]), cpu: Number(m[3]), us: Number(m[4]) * 1e6 + Number(m[5]), event: m[6]!, rest: m[7]! });
  }
  return out;
}

interface Decoded {
  comm: string;
  pid: number;
  cpu: number;
  ts: number;
  event: string;
  fields: Record<string, FieldValue>;
}

function decodeAll(path: string): { events: Decoded[]; reader: TraceDatReader } {
  const reader = new TraceDatReader(path);
  const events: Decoded[] = [];
  try {
    for (let r = reader.next(); r; r = reader.next())
      events.push({ comm: r.comm, pid: r.pid, cpu: r.cpu, ts: r.ts, event: r.format?.name ?? `#${r.id}`, fields: fieldsObject(r.view, r.offset, r.length, r.format, reader.meta.littleEndian) });
  } finally {
    reader.close();
  }
  return { events, reader };
}

/** trace-cmd prints microseconds rounded to nearest. */
const usOf = (ns: number) => Math.floor((ns + 500) / 1000);

function expectSameRecords(decoded: Decoded[], report: Line[]): void {
  expect(decoded.length).toBe(report.length);
  for (let i = 0; i < report.length; i++) {
    const d = decoded[i]!;
    const r = report[i]!;
    const got = `${i}: ${d.comm}-${d.pid} [${d.cpu}] ${usOf(d.ts)} ${d.event}`;
    expect(got).toBe(`${i}: ${r.comm}-${r.pid} [${r.cpu}] ${r.us} ${r.event}`);
  }
}

/** Does libtraceevent's printed value (decimal, hex with or without 0x, as the print fmt chose) show this value? */
function sameValue(printed: string, v: FieldValue): boolean {
  if (typeof v === 'string') return printed === v || printed === `ARRAY[${v.match(/../g)?.join(', ') ?? ''}]`;
  const big = BigInt(v);
  const forms = [big.toString(), big.toString(16), `0x${big.toString(16)}`];
  if (big < 0n) for (const bits of [8n, 16n, 32n, 64n]) forms.push(BigInt.asUintN(Number(bits), big).toString(16), BigInt.asUintN(Number(bits), big).toString());
  const t = printed.trim();
  // hex may be zero-padded (`%016llx`)
  const hex = t.replace(/^0x/, '').replace(/^0+(?=.)/, '');
  return forms.includes(t) || forms.includes(hex);
}

describe('trace.dat decoder: the real-6.18 samples', () => {
  for (const name of SAMPLES) {
    const dat = join(DIR, `${name}.trace.dat`);

    it(`${name}: every record's comm, pid, cpu, time and event match the stored trace-cmd report`, () => {
      const { events, reader } = decodeAll(dat);
      expect(reader.meta.version).toBe(7);
      expect(reader.meta.compression).toBe('zstd');
      expect(reader.damage).toEqual([]);
      expectSameRecords(events, parseReport(readFileSync(join(DIR, `${name}.report.txt`), 'utf8')));
    });

    it.skipIf(!hasTraceCmd)(`${name}: every field matches trace-cmd report -R`, () => {
      const raw = parseReport(execFileSync('trace-cmd', ['report', '-R', '-i', dat], { encoding: 'utf8', maxBuffer: 1 << 28 }));
      const { events } = decodeAll(dat);
      expect(events.length).toBe(raw.length);
      let checked = 0;
      for (let i = 0; i < raw.length; i++) {
        const printed = new Map<string, string>();
        for (const m of raw[i]!.rest.matchAll(/(\w+)=(ARRAY\[[^\]]*\]|\S*)/g)) printed.set(m[1]!, m[2]!);
        const fields = events[i]!.fields;
        // the same field names, in the format's order
        expect([...printed.keys()], `record ${i} (${raw[i]!.event})`).toEqual(Object.keys(fields));
        for (const [k, p] of printed) {
          if (!sameValue(p, fields[k]!)) expect(`${i} ${raw[i]!.event} ${k}=${String(fields[k])}`).toBe(`${i} ${raw[i]!.event} ${k}=${p}`);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(events.length);
    });
  }
});

describe.skipIf(!hasTraceCmd)('trace.dat decoder: versions and compressions written by trace-cmd convert', () => {
  const src = join(DIR, 'gpf-cpl0.trace.dat');
  const reference = () => parseReport(readFileSync(join(DIR, 'gpf-cpl0.report.txt'), 'utf8'));
  const variants: [string, string[], number, string][] = [
    ['version 6', ['--file-version', '6'], 6, 'none'],
    ['version 7 uncompressed', ['--file-version', '7', '--compression', 'none'], 7, 'none'],
    ['version 7 zstd', ['--file-version', '7', '--compression', 'zstd'], 7, 'zstd'],
  ];
  for (const [label, args, version, compression] of variants) {
    it(label, () => {
      const out = join(tmp, `${label.replace(/\W+/g, '-')}.dat`);
      execFileSync('trace-cmd', ['convert', '-i', src, ...args, '-o', out], { stdio: 'ignore' });
      const { events, reader } = decodeAll(out);
      expect(reader.meta.version).toBe(version);
      expect(reader.meta.compression).toBe(compression);
      expectSameRecords(events, reference());
    });
  }
});

describe('trace.dat decoder: going on from another reader\'s place', () => {
  /** Every event from the reader's position on: time, CPU and payload bytes. */
  const rest = (r: TraceDatReader): string[] => {
    const out: string[] = [];
    for (let e = r.next(); e; e = r.next()) out.push(`${e.ts} ${e.cpu} ${Buffer.from(e.view.buffer, e.view.byteOffset + e.offset, e.length).toString('hex')}`);
    return out;
  };
  const files = (): [string, string][] => {
    const list: [string, string][] = [['version 7 zstd', join(DIR, 'gpf-cpl0.trace.dat')]];
    if (hasTraceCmd) {
      // uncompressed pages are read a window at a time, not a chunk: the other path
      const v6 = join(tmp, 'place-v6.dat');
      execFileSync('trace-cmd', ['convert', '-i', join(DIR, 'gpf-cpl0.trace.dat'), '--file-version', '6', '-o', v6], { stdio: 'ignore' });
      list.push(['version 6', v6]);
    }
    return list;
  };

  it('a reader made at the place of one that read k events reads the events after the k-th, the same as the first reads them', () => {
    for (const [label, path] of files()) {
      const whole = rest(new TraceDatReader(path));
      expect(whole.length, label).toBe(4179);
      // the start, within a page, the last event and past it
      for (const k of [0, 1, 37, 1000, 2500, 4178, 4179]) {
        const first = new TraceDatReader(path);
        for (let i = 0; i < k; i++) first.advance();
        const second = new TraceDatReader(path, first.meta, first.place());
        expect(second.count, `${label} after ${k}`).toBe(k);
        expect(second.bytesRead, `${label} after ${k}`).toBe(first.bytesRead);
        expect(rest(second), `${label} after ${k}`).toEqual(whole.slice(k));
        first.close();
        second.close();
      }
    }
  });
});

describe('trace.dat decoder: damaged files', () => {
  const src = join(DIR, 'gpf-cpl0.trace.dat');

  it('a version 6 file cut inside the CPU data keeps the events before the cut and says where', () => {
    if (!hasTraceCmd) return console.log('skipped: trace-cmd is not installed to write a version 6 file');
    const v6 = join(tmp, 'whole-v6.dat');
    execFileSync('trace-cmd', ['convert', '-i', src, '--file-version', '6', '-o', v6], { stdio: 'ignore' });
    const whole = decodeAll(v6).events;
    const reader0 = new TraceDatReader(v6);
    const cpu = reader0.meta.cpus.find((c) => c.size > 0)!;
    reader0.close();
    const cutAt = cpu.offset + Math.floor(cpu.size / 2);
    const cut = join(tmp, 'cut.dat');
    writeFileSync(cut, readFileSync(v6).subarray(0, cutAt));
    const { events, reader } = decodeAll(cut);
    expect(reader.damage.length).toBe(1);
    expect(reader.damage[0]!.message).toMatch(/file ends at byte \d+, inside cpu \d+'s data/);
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThan(whole.length);
    // what is kept is exactly the start of the whole trace
    for (let i = 0; i < events.length; i++) expect(events[i]!.ts).toBe(whole[i]!.ts);
  });

  it('a version 7 file cut before its last options section (where the CPU data is told) is one clear error', () => {
    const cut = join(tmp, 'cut-v7.dat');
    const r = new TraceDatReader(src);
    const cpu = r.meta.cpus.find((c) => c.size > 0)!;
    r.close();
    writeFileSync(cut, readFileSync(src).subarray(0, cpu.offset + 100));
    expect(() => new TraceDatReader(cut)).toThrow(/file ends at byte \d+, before its options section .* truncated/);
  });

  it('a file cut inside its metadata is one clear error', () => {
    const cut = join(tmp, 'cut-meta.dat');
    writeFileSync(cut, readFileSync(src).subarray(0, 3000));
    expect(() => new TraceDatReader(cut)).toThrow(TraceDatError);
    expect(() => new TraceDatReader(cut)).toThrow(/file ends at byte 3000|truncated|past the end/);
  });

  it('flipped bytes anywhere give a TraceDatError or a decode with damage noted, never a crash', () => {
    const good = readFileSync(src);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    const f = join(tmp, 'flipped.dat');
    let damaged = 0;
    for (let round = 0; round < 12; round++) {
      const bad = Buffer.from(good);
      // half the rounds hit the CPU data (the pages), half anywhere
      for (let k = 0; k < 8; k++) {
        const at = round % 2 ? Math.floor(rand() * bad.length) : bad.length - 1 - Math.floor(rand() * 20000);
        bad[at] = bad[at]! ^ (1 << Math.floor(rand() * 8));
      }
      writeFileSync(f, bad);
      try {
        const { reader } = decodeAll(f);
        if (reader.damage.length) damaged++;
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).constructor.name).toMatch(/TraceDatError|FormatError/);
      }
    }
    expect(damaged).toBeGreaterThan(0);
  });

  it('a text file or an empty file is refused with one sentence', () => {
    const t = join(tmp, 'text.dat');
    copyFileSync(join(DIR, 'gpf-cpl0.report.txt'), t);
    expect(() => new TraceDatReader(t)).toThrow(/not a trace\.dat/);
    writeFileSync(t, '');
    expect(statSync(t).size).toBe(0);
    expect(() => new TraceDatReader(t)).toThrow(TraceDatError);
  });
});

describe('trace.dat decoder: zlib', () => {
  // This host's trace-cmd writes zstd only (`trace-cmd list -c`), so no zlib trace.dat can be made
  // here; trace-cmd's zlib compressor writes zlib streams (compress2), as node's deflateSync does.
  it('a zlib-compressed section or chunk decompresses to the size the file gives, and a wrong size is refused', () => {
    const page = readFileSync(join(DIR, 'demand-cpl3.report.txt')).subarray(0, 8192);
    const z = deflateSync(page);
    expect(Buffer.from(decompress('zlib', z, page.length, 'a chunk'))).toEqual(page);
    expect(() => decompress('zlib', z, page.length + 1, 'a chunk')).toThrow(TraceDatError);
    expect(() => decompress('zlib', z.subarray(0, 100), page.length, 'a chunk')).toThrow(/does not decompress \(zlib\)|decompresses to/);
  });
});

describe('trace.dat decoder: zstd', () => {
  // the zstd command line tool (the reference implementation) compresses; the module decompresses
  const hasZstd = spawnSync('zstd', ['--version']).status === 0;

  it('a frame from the zstd tool decompresses to its input, and damage is refused in zstd words', () => {
    if (!hasZstd) return console.log('skipped: the zstd command is not installed');
    const input = readFileSync(join(DIR, 'demand-cpl3.report.txt'));
    const frame = execFileSync('zstd', ['-c', '-q', '-19'], { input });
    expect(Buffer.from(decompress('zstd', frame, input.length, 'a chunk'))).toEqual(input);
    expect(() => decompress('zstd', frame, input.length - 1, 'a chunk')).toThrow(/a chunk does not decompress \(zstd\): Destination buffer is too small/);
    const bad = Buffer.from(frame);
    const mid = bad.length >> 1;
    bad[mid] = bad[mid]! ^ 0xff;
    expect(() => decompress('zstd', bad, input.length, 'a chunk')).toThrow(TraceDatError);
    expect(() => decompress('zstd', frame.subarray(0, 20), input.length, 'a chunk')).toThrow(/does not decompress \(zstd\)/);
  });
});
