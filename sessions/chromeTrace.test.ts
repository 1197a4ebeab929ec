// The Chrome trace export against a schema of the Trace Event Format (the JSON Object Format
// of "Trace Event Format", Google, rev. 2016, which chrome://tracing and Perfetto's JSON
// importer read), plus the rules Perfetto enforces when it builds slices from it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { recordBuiltin } from './testing/recordBuiltin.ts';
import { exportChrome } from './export.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const int = z.number().int().min(0);
const args = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));
const common = { name: z.string().min(1), cat: z.string().optional(), pid: int, tid: int, args: args.optional() };
/** Microseconds, possibly fractional (ns resolution), never negative. */
const us = z.number().finite().min(0);

const metadata = z.strictObject({
  ...common,
  ph: z.literal('M'),
  name: z.enum(['process_name', 'thread_name', 'process_sort_index', 'thread_sort_index', 'process_labels']),
  ts: us.optional(),
  args: z.union([z.strictObject({ name: z.string().min(1) }), z.strictObject({ sort_index: z.number().int() }), z.strictObject({ labels: z.string() })]),
});
const complete = z.strictObject({ ...common, ph: z.literal('X'), ts: us, dur: us });
const instant = z.strictObject({ ...common, ph: z.literal('i'), ts: us, s: z.enum(['g', 'p', 't']).optional() });
const traceEvent = z.discriminatedUnion('ph', [metadata, complete, instant]);
const traceFile = z.strictObject({
  traceEvents: z.array(traceEvent),
  displayTimeUnit: z.enum(['ms', 'ns']).optional(),
  otherData: z.record(z.string(), z.unknown()).optional(),
});

function traceOf(name: string): { text: string; events: ReturnType<typeof traceFile.parse>['traceEvents']; jsonl: Record<string, string | number>[] } {
  const session = recordBuiltin(join(dir, `${name}.mmulab`), name, { maxEvents: 20_000 });
  let text = '';
  exportChrome(session, (s) => (text += s));
  const jsonl = [...session.iterate()].map((e) => session.toJson(e));
  return { text, events: traceFile.parse(JSON.parse(text)).traceEvents, jsonl };
}

describe('Chrome trace event format', () => {
  for (const name of ['multi-vcpu', 'kbuild-update', 'tdp-demand']) {
    it(`${name}: the export passes the schema, names every process and thread, and its slices nest per thread`, () => {
      const { events, jsonl } = traceOf(name);
      const meta = events.filter((e) => e.ph === 'M');
      const threads = new Set(jsonl.map((e) => `${e.vm}/${e.vcpu}`));
      // every pid/tid that carries events is named by metadata (Perfetto shows names, not numbers)
      for (const key of threads) {
        const [pid, tid] = key.split('/').map(Number);
        expect(meta.some((m) => m.name === 'process_name' && m.pid === pid)).toBe(true);
        expect(meta.some((m) => m.name === 'thread_name' && m.pid === pid && m.tid === tid)).toBe(true);
      }
      // one X slice per vmexit line of the JSONL export, in µs, with reason and handling as args
      const exits = jsonl.filter((e) => e.type === 'vmexit');
      const slices = events.filter((e) => e.ph === 'X' && e.cat === 'vmexit');
      expect(slices.length).toBe(exits.length);
      slices.forEach((s, i) => {
        const x = exits[i]!;
        expect(s.ts).toBeCloseTo((x.t as number) / 1000, 9);
        expect(s.ph === 'X' && s.dur).toBeCloseTo((x.duration as number) / 1000, 9);
        expect(s.args).toMatchObject({ reason: x.reason, handling: x.handling });
        expect(s.name).toBe(x.reason);
      });
      // Perfetto's importer (which turns µs into integer ns) drops X slices that overlap on one
      // thread without nesting: abutting is fine, partial overlap is not
      const ns = (us: number) => Math.round(us * 1000);
      const byThread = new Map<string, { ts: number; end: number }[]>();
      for (const e of events) {
        if (e.ph !== 'X') continue;
        const key = `${e.pid}/${e.tid}`;
        const list = byThread.get(key) ?? [];
        list.push({ ts: ns(e.ts), end: ns(e.ts) + ns(e.dur) });
        byThread.set(key, list);
      }
      for (const list of byThread.values()) {
        const stack: number[] = [];
        for (const s of list.sort((a, b) => a.ts - b.ts || b.end - a.end)) {
          while (stack.length && stack[stack.length - 1]! <= s.ts) stack.pop();
          if (stack.length) expect(s.end).toBeLessThanOrEqual(stack[stack.length - 1]!);
          stack.push(s.end);
        }
      }
      // every event without a duration is a thread-scoped instant
      expect(events.filter((e) => e.ph === 'i').length).toBe(jsonl.filter((e) => e.duration === undefined).length);
    });
  }

  it('the schema itself rejects what the format forbids', () => {
    const bad = [
      { traceEvents: [{ name: 'x', ph: 'X', pid: 0, tid: 0, ts: 1 }] }, // X without dur
      { traceEvents: [{ name: 'x', ph: 'i', pid: 0, tid: 0, ts: -1 }] }, // negative time
      { traceEvents: [{ name: 'thread_name', ph: 'M', pid: 0, tid: 0, args: {} }] }, // metadata without its name
      { traceEvents: {} },
    ];
    for (const b of bad) expect(traceFile.safeParse(b).success).toBe(false);
  });
});
