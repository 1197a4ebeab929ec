// The Chrome trace export loaded in a real page (Chromium) over HTTP and parsed the way
// Perfetto's JSON importer does: the object form with a traceEvents array, µs times turned
// into integer ns, metadata naming processes and threads, complete slices stacked per thread
// (a slice that overlaps without nesting is an import error), thread-scoped instants.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { findBuiltin } from '../core/builtins.ts';
import { parseScenario } from '../core/scenario.ts';
import { recordScenario } from '../sessions/record.ts';
import { openSession } from '../sessions/reader.ts';
import { exportChrome } from '../sessions/export.ts';

interface ParsedThread {
  tid: number;
  name: string;
  /** Slices per event type (the `type` arg the export puts on every event). */
  slices: Record<string, number>;
  instants: number;
  maxDepth: number;
}
interface ParsedTrace {
  displayTimeUnit: string | null;
  processes: { pid: number; name: string; threads: ParsedThread[] }[];
  errors: string[];
  firstNs: number;
  lastNs: number;
}

let server: Server;
let base = '';
let trace = '';
let expected: Map<string, number>;
let dir = '';

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-e2e-trace-'));
  const p = parseScenario(findBuiltin('multi-vcpu')!.scenario);
  if (!p.ok) throw new Error(p.error);
  const file = join(dir, 'multi.mmulab');
  recordScenario(p.value, file);
  const session = openSession(file).session!;
  exportChrome(session, (s) => (trace += s));
  // independent expectation: vmexit lines per (vm, vcpu) of the JSONL view
  expected = new Map();
  for (const e of session.iterate()) if (e.type === 'vmexit') expected.set(`${e.vm}/${e.vcpu}`, (expected.get(`${e.vm}/${e.vcpu}`) ?? 0) + 1);
  server = createServer((req, res) => {
    if (req.url === '/trace.json') {
      res.setHeader('Content-Type', 'application/json');
      res.end(trace);
    } else {
      res.setHeader('Content-Type', 'text/html');
      res.end('<!doctype html><title>trace loader</title><p>loading</p>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test('a Chrome trace export parses in the page as Perfetto would', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  const parsed: ParsedTrace = await page.evaluate(async () => {
    const text = await (await fetch('/trace.json')).text();
    const json: unknown = JSON.parse(text);
    const out: ParsedTrace = { displayTimeUnit: null, processes: [], errors: [], firstNs: Infinity, lastNs: 0 };
    const events = Array.isArray(json) ? json : (json as { traceEvents?: unknown }).traceEvents;
    if (!Array.isArray(events)) throw new Error('no traceEvents array');
    if (!Array.isArray(json)) out.displayTimeUnit = ((json as { displayTimeUnit?: string }).displayTimeUnit ?? null) as string | null;
    type Ev = { ph?: string; name?: string; pid?: number; tid?: number; ts?: number; dur?: number; s?: string; args?: Record<string, unknown> };
    const procs = new Map<number, { pid: number; name: string; threads: Map<number, ParsedThread & { stack: number[] }> }>();
    const proc = (pid: number) => {
      let p = procs.get(pid);
      if (!p) procs.set(pid, (p = { pid, name: '', threads: new Map() }));
      return p;
    };
    const thread = (pid: number, tid: number) => {
      const p = proc(pid);
      let t = p.threads.get(tid);
      if (!t) p.threads.set(tid, (t = { tid, name: '', slices: {}, instants: 0, maxDepth: 0, stack: [] }));
      return t;
    };
    const toNs = (us: number) => Math.round(us * 1000);
    // Perfetto sorts by timestamp before it builds slices; longer slices first at equal ts
    const timed = (events as Ev[]).filter((e) => e.ph !== 'M').sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0) || (b.dur ?? 0) - (a.dur ?? 0));
    for (const e of events as Ev[]) {
      if (e.ph !== 'M') continue;
      if (typeof e.pid !== 'number') out.errors.push('metadata without pid');
      else if (e.name === 'process_name') proc(e.pid).name = String(e.args?.name ?? '');
      else if (e.name === 'thread_name' && typeof e.tid === 'number') thread(e.pid, e.tid).name = String(e.args?.name ?? '');
    }
    for (const e of timed) {
      if (typeof e.pid !== 'number' || typeof e.tid !== 'number' || typeof e.ts !== 'number' || typeof e.name !== 'string') {
        out.errors.push(`event without pid/tid/ts/name: ${JSON.stringify(e).slice(0, 80)}`);
        continue;
      }
      const t = thread(e.pid, e.tid);
      const ts = toNs(e.ts);
      out.firstNs = Math.min(out.firstNs, ts);
      if (e.ph === 'X') {
        if (typeof e.dur !== 'number' || e.dur < 0) {
          out.errors.push('X without a duration');
          continue;
        }
        const end = ts + toNs(e.dur);
        while (t.stack.length && t.stack[t.stack.length - 1]! <= ts) t.stack.pop();
        if (t.stack.length && end > t.stack[t.stack.length - 1]!) {
          out.errors.push(`misnested slice ${e.name} at ${ts} ns on ${e.pid}/${e.tid}`);
          continue;
        }
        t.stack.push(end);
        t.maxDepth = Math.max(t.maxDepth, t.stack.length);
        const kind = String(e.args?.type ?? e.name);
        t.slices[kind] = (t.slices[kind] ?? 0) + 1;
        out.lastNs = Math.max(out.lastNs, end);
      } else if (e.ph === 'i' || e.ph === 'I') {
        if (e.s !== undefined && e.s !== 't' && e.s !== 'p' && e.s !== 'g') out.errors.push('instant with a bad scope');
        t.instants++;
        out.lastNs = Math.max(out.lastNs, ts);
      } else out.errors.push(`unsupported phase ${String(e.ph)}`);
    }
    out.processes = [...procs.values()]
      .sort((a, b) => a.pid - b.pid)
      .map((p) => ({ pid: p.pid, name: p.name, threads: [...p.threads.values()].sort((a, b) => a.tid - b.tid).map(({ stack: _stack, ...t }) => t) }));
    document.querySelector('p')!.textContent = `loaded ${events.length} events`;
    return out;
  });
  await expect(page.locator('p')).toHaveText(/^loaded \d+ events$/);
  expect(errors).toEqual([]);
  expect(parsed.errors).toEqual([]);
  expect(parsed.displayTimeUnit).toBe('ns');
  expect(parsed.processes.map((p) => p.name)).toEqual(['VM 0']);
  const threads = parsed.processes[0]!.threads;
  expect(threads.map((t) => t.name)).toEqual(['vCPU 0', 'vCPU 1', 'vCPU 2', 'vCPU 3']);
  for (const t of threads) {
    expect(t.slices.vmexit ?? 0, `vCPU ${t.tid}`).toBe(expected.get(`0/${t.tid}`) ?? 0);
    expect(t.instants).toBeGreaterThan(0);
  }
  expect(parsed.lastNs).toBeGreaterThan(parsed.firstNs);
});
