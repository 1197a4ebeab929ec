/**
 * The import's reading thread (parseWorker.ts): reading and parsing in a worker must write
 * byte for byte the session the in-thread import writes, wherever the hand-over from the
 * importing thread falls (in a wrapped record, a stack trace, a cut prefix), keep the cancel
 * semantics, and pack records without losing a field.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSession } from '../reader.ts';
import { importTrace, ownRunning } from './importer.ts';
import type { TraceRecord } from './lines.ts';
import { BatchDecoder, BatchEncoder, parseWorkerLocation } from './recordBatch.ts';
import { DECODED, SPURIOUS, TsReader, predecode, type ImportRecord } from './predecode.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-readthread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = join(import.meta.dirname, 'fixtures');

/** Every fixture, the stack traces and wrapped lines first, behind a comment of `pad` characters. */
function corpus(pad: number): string {
  const names = readdirSync(fixtures).filter((f) => f.endsWith('.txt'));
  names.sort((a, b) => Number(b.includes('stacktrace') || b.includes('mmio')) - Number(a.includes('stacktrace') || a.includes('mmio')));
  return `# ${'x'.repeat(pad)}\n` + names.map((f) => readFileSync(join(fixtures, f), 'utf8')).join('\n');
}

async function both(name: string, text: string, chunkBytes: number) {
  const input = join(dir, name + '.txt');
  writeFileSync(input, text);
  const here = await importTrace(input, join(dir, name + '.here.mmulab'), { parseWorker: false, chunkBytes });
  const there = await importTrace(input, join(dir, name + '.there.mmulab'), { parseWorker: true, chunkBytes });
  return { here, there, a: readFileSync(join(dir, name + '.here.mmulab')), b: readFileSync(join(dir, name + '.there.mmulab')) };
}

describe('reading and parsing in a worker thread', () => {
  it('finds the worker (the TypeScript source through tsx here)', () => {
    const loc = parseWorkerLocation();
    expect(loc?.file).toMatch(/parseWorker\.ts$/);
    expect(loc?.tsxApi).toBeDefined();
  });

  it('packs and unpacks records field for field, decoded as the importing thread decodes them', () => {
    const recs: TraceRecord[] = [
      { lineNo: 3, comm: 'CPU 0/KVM', pid: 1234, cpu: 2, ts: '5.000001', event: 'kvm_exit', body: 'reason HLT rip 0x1 info 0 0', joined: 0 },
      { lineNo: 9, comm: 'qemu-system-x86', pid: 77, tgid: 70, cpu: 0, ts: '6.5', system: 'kvm', event: 'kvm_entry', body: '', joined: 2 },
      { lineNo: 10, comm: '', pid: -1, cpu: -1, ts: '', event: 'stack_trace', body: '=> a => b é', joined: 1 },
      { lineNo: 11, comm: 'CPU 0/KVM', pid: 1234, cpu: 2, ts: '7.123456789', event: 'kvm_page_fault', body: 'vcpu 0 rip 0x1 address 0x0000000000fee000 error_code 0x184', joined: 0 },
      { lineNo: 12, comm: 'CPU 0/KVM', pid: 1234, cpu: 2, ts: '7.2', event: 'fast_page_fault', body: 'vcpu 3 gva 1000 error_code F sptep 0 old 0x1 new 1 spurious 1 fixed 0', joined: 0 },
    ];
    const enc = new BatchEncoder();
    for (const r of recs) enc.add(r);
    const batch = enc.take();
    const dec = new BatchDecoder();
    dec.strings.push(...batch.strings);
    const out: ImportRecord[] = [];
    dec.decode(batch, (r) => out.push(r));
    const tsr = new TsReader();
    expect(out).toEqual(recs.map((r) => predecode(r, tsr)));
    // the decoded fields, by hand from the texts above
    expect(out[0]).toMatchObject({ sec: 5, ns: 1000, reason: 'HLT', body: '', tgid: undefined });
    expect(out[0]!.vcpu).toBeNaN();
    expect(out[1]).toMatchObject({ sec: 6, ns: 500_000_000, tgid: 70, system: 'kvm', body: '', reason: '' });
    expect(out[1]!.vcpu).toBeNaN(); // an entry without `vcpu N` stays a raw event
    expect(out[2]).toMatchObject({ body: '=> a => b é', comm: '', pid: -1 });
    expect(out[2]!.sec).toBeNaN();
    expect(out[3]).toMatchObject({ sec: 7, ns: 123_456_789, vcpu: 0, scanVcpu: 0, a: 0xfee000, flags: DECODED });
    expect(out[4]).toMatchObject({ vcpu: 3, flags: DECODED | SPURIOUS });
    expect(enc.take().count).toBe(0);
  });

  it('numbers the first 4096 distinct short strings across batches and sends the others as text', () => {
    const enc = new BatchEncoder();
    const dec = new BatchDecoder();
    const table = dec.strings;
    const out: ImportRecord[] = [];
    const recs: TraceRecord[] = Array.from({ length: 5000 }, (_, i) => ({
      lineNo: i + 1,
      comm: `thread ${i}`,
      pid: i,
      cpu: 0,
      ts: `1.${i}`,
      event: i % 2 ? 'kvm_exit' : `custom_${i}`,
      body: i % 2 ? `vcpu 1 reason R${i} rip 0x1 info 0 0` : `x=${i}`,
      joined: 0,
    }));
    for (let b = 0; b < 5; b++) {
      for (const r of recs.slice(b * 1000, b * 1000 + 1000)) enc.add(r);
      const batch = enc.take();
      table.push(...batch.strings);
      dec.decode(batch, (r) => out.push(r));
    }
    expect(table.length).toBe(4096);
    expect(out.map((r) => r.comm)).toEqual(recs.map((r) => r.comm));
    expect(out.map((r) => r.event)).toEqual(recs.map((r) => r.event));
    expect(out.filter((r) => r.event === 'kvm_exit').map((r) => r.reason)).toEqual(recs.filter((r) => r.event === 'kvm_exit').map((r) => /reason (\S+)/.exec(r.body)![1]));
    expect(out.filter((r) => r.event !== 'kvm_exit').map((r) => r.body)).toEqual(recs.filter((r) => r.event !== 'kvm_exit').map((r) => r.body));
  });

  // a 4 KiB chunk puts the hand-over (after the first chunk) at a different place for every pad
  for (const pad of [0, 37, 211, 1024, 2500, 3900])
    it(`writes the in-thread session, handing over after ${pad} more bytes`, async () => {
      const text = corpus(pad);
      const { here, there, a, b } = await both(`pad${pad}`, text, 4096);
      expect(here.ok && here.complete).toBe(true);
      expect({ ...there, seconds: 0 }).toEqual({ ...here, seconds: 0 });
      expect(Buffer.compare(a, b)).toBe(0);
      // and against the text: every line counted
      expect(there.lines).toBe(text.split('\n').length - (text.endsWith('\n') ? 1 : 0));
    });

  it('writes the in-thread session when the one-pass import starts in a batch of the reading thread', async () => {
    // more than the 16,384 records held back before the session starts, with lines that are
    // listed as not understood before and after that record: the speculative header's size
    // depends on the counts at that record, which the reading thread must report as they were
    const lines: string[] = [];
    let junk = 0;
    for (let i = 0; i < 20000; i++) {
      const v = i % 4;
      const us = 1_000_000 + i * 3;
      lines.push(`       CPU ${v}/KVM-${900 + v} [00${v}] d.... ${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}: kvm_exit: vcpu ${v} reason HLT rip 0x1 info 0 0`);
      // (two just before the 16,384th record, in the same batch of the reading thread)
      if (i % 1500 === 7 || i === 16381 || i === 16382) {
        lines.push(`not  a record ${i}`);
        junk++;
      }
    }
    const text = lines.join('\n') + '\n';
    const { here, there, a, b } = await both('speculate-in-batch', text, 4096);
    expect(here.ok && here.complete).toBe(true);
    expect(here.skipped).toBe(junk);
    expect(here.exits).toBe(20000);
    expect({ ...there, seconds: 0 }).toEqual({ ...here, seconds: 0 });
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('cancelling keeps a readable session marked incomplete that says where it stopped', async () => {
    const input = join(dir, 'long.txt');
    const line = (i: number) => `       CPU ${i % 2}/KVM-${700 + (i % 2)} [00${i % 2}] d.... ${5 + Math.floor(i / 1e6)}.${String(i % 1e6).padStart(6, '0')}: kvm_exit: vcpu ${i % 2} reason HLT rip 0xffffffff81000000 info 0 0`;
    writeFileSync(input, Array.from({ length: 60000 }, (_, i) => line(i)).join('\n') + '\n');
    const ac = new AbortController();
    const out = join(dir, 'long.mmulab');
    const r = await importTrace(input, out, {
      parseWorker: true,
      chunkBytes: 4096,
      signal: ac.signal,
      onProgress: (p) => p.lines > 2000 && ac.abort(),
    });
    expect(r.cancelled).toBe(true);
    expect(r.message).toMatch(/^import cancelled at line \d+ of 60000; kept /);
    const cut = Number(/at line (\d+)/.exec(r.message)![1]);
    expect(cut).toBeLessThan(60000);
    const s = openSession(out).session!;
    expect(s.complete).toBe(false);
    // one exit per line, all of them before the cut
    expect(s.summary().eventsByType.vmexit ?? 0).toBe(r.exits);
    expect(r.exits).toBeLessThanOrEqual(cut);
    expect(r.exits).toBeGreaterThan(2000 - 2);
  });
});

describe('whether a core is free for the second thread', () => {
  it("counts this process's own busy threads (a spinning worker here) as its own, not as other work", async () => {
    if (!existsSync('/proc/self/task')) return console.log('skipped: no /proc/self/task here');
    const { Worker } = await import('node:worker_threads');
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const spin = new Worker('const { workerData } = require("node:worker_threads"); const f = workerData; Atomics.store(f, 0, 1); while (Atomics.load(f, 0) === 1);', { eval: true, workerData: flag });
    try {
      while (Atomics.load(flag, 0) !== 1) await new Promise((r) => setTimeout(r, 1));
      // this thread (reading) and the spinning one: both running or runnable
      expect(ownRunning()).toBeGreaterThanOrEqual(2);
    } finally {
      Atomics.store(flag, 0, 2);
      await spin.terminate();
    }
  });
});
