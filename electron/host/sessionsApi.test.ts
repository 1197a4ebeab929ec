// The session analysis calls through the real dispatcher (params and results checked against
// the contract's schemas), notes appended to real files, and exports downloaded over HTTP.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBuiltin } from '../../core/builtins.ts';
import { parseScenario } from '../../core/scenario.ts';
import { recordScenario } from '../../sessions/record.ts';
import { SessionWriter } from '../../sessions/writer.ts';
import { openSession } from '../../sessions/reader.ts';
import { KEYFRAME_EVENTS, appendKeyframes } from '../../sessions/annex.ts';
import { ApiError } from '../api/contract.ts';
import { startBrowserHost, type BrowserHost } from './browserHost.ts';
import type { HostService } from './hostService.ts';

let dir: string;
let host: BrowserHost;
let service: HostService;

function record(name: string, id = `${name}.mmulab`): string {
  const p = parseScenario(findBuiltin(name)!.scenario);
  if (!p.ok) throw new Error(p.error);
  recordScenario(p.value, join(service.sessionsDir, id), {});
  return id;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-sapi-'));
  host = await startBrowserHost({ port: 0, sessionsDir: join(dir, 'sessions'), staticDir: join(dir, 'no-renderer') });
  service = host.service;
});
afterAll(async () => {
  await host?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('notes and bookmarks', () => {
  it('are appended without rewriting a byte of the recording; last wins; a torn note costs only itself', async () => {
    const id = record('demand-update');
    const path = join(service.sessionsDir, id);
    const original = readFileSync(path);
    const a = await service.call('sessions.notes.add', { id, kind: 'bookmark', t: 1000, index: 3, text: 'first fault' });
    const b = await service.call('sessions.notes.add', { id, kind: 'note', t: 50, text: 'before it' });
    await service.call('sessions.notes.add', { id, noteId: a.noteId, kind: 'bookmark', t: 1000, index: 3, text: 'first fault (edited)' });
    expect((await service.call('sessions.notes.list', { id })).map((n) => [n.noteId, n.text])).toEqual([
      [b.noteId, 'before it'],
      [a.noteId, 'first fault (edited)'],
    ]);
    expect(await service.call('sessions.notes.remove', { id, noteId: b.noteId })).toEqual({ removed: true });
    expect(await service.call('sessions.notes.remove', { id, noteId: b.noteId })).toEqual({ removed: false });
    const now = readFileSync(path);
    expect(now.subarray(0, original.length).equals(original)).toBe(true);
    // the session still opens cleanly with its events
    const summary = await service.call('sessions.open', { id });
    expect(summary.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    // a crash in the middle of appending a note: the torn chunk is reported, the notes before it stay
    const size = statSync(path).size;
    await service.call('sessions.notes.add', { id, kind: 'note', t: 7, text: 'this one is torn' });
    truncateSync(path, size + 20);
    const torn = await service.call('sessions.open', { id });
    expect(torn.events).toBe(summary.events);
    expect(torn.diagnostics.map((d) => [d.severity, d.code])).toContainEqual(['info', 'truncated_annex']);
    expect((await service.call('sessions.notes.list', { id })).map((n) => n.text)).toEqual(['first fault (edited)']);
  });

  it('are refused while a session is still being recorded', async () => {
    const w = SessionWriter.create(join(service.sessionsDir, 'live.mmulab'), { scenario: { name: 'live', vms: [{ vcpus: 1 }] } });
    w.append({ t: 1, vm: 0, vcpu: 0, type: 'guest_os', action: 'create', pid: 1 });
    w.flush();
    await expect(service.call('sessions.notes.add', { id: 'live.mmulab', kind: 'note', t: 1, text: 'x' })).rejects.toThrow(/still being recorded/);
    w.close({ complete: true });
  });
});

describe('recordings made by the host', () => {
  it('end with keyframes that match a replay', async () => {
    const scenario = structuredClone(findBuiltin('kbuild-zap')!.scenario);
    const workload = scenario.vms[0]!.guest.workload;
    if (workload.kind === 'kbuild') workload.iterations = 40;
    const run = await service.call('runs.start', { scenario: { scenario } });
    await service.waitForRun(run.runId);
    const path = join(service.sessionsDir, run.sessionId);
    const { session } = openSession(path);
    expect(session!.eventCount).toBeGreaterThan(KEYFRAME_EVENTS);
    expect(session!.keyframes.length).toBe(Math.floor((session!.eventCount - 1) / KEYFRAME_EVENTS));
    expect(session!.verifyKeyframes().problems).toEqual([]);
    // The same keyframes, byte for byte, as the CLI's pass writes for the same recording.
    const copy = join(dir, 'cli-keyframes.mmulab');
    copyFileSync(path, copy);
    truncateSync(copy, Math.min(...session!.keyframes.map((k) => k.offset)));
    expect(appendKeyframes(copy, openSession(copy).session!)).toBe(session!.keyframes.length);
    expect(readFileSync(copy).equals(readFileSync(path))).toBe(true);
  });
});

describe('analysis calls', () => {
  it('pageTables, diff, counters and compare answer within the contract', async () => {
    const zap = record('cow-zap');
    const upd = record('cow-update');
    const open = await service.call('sessions.open', { id: zap });
    const last = open.events - 1;
    const pt = await service.call('sessions.pageTables', { id: zap, at: last });
    expect(pt.vms[0]!.guest.tables.length).toBeGreaterThan(0);
    expect(pt.vms[0]!.host!.kind).toBe('shadow');
    const diff = await service.call('sessions.diff', { id: zap, from: 0, to: last });
    expect(diff.total).toBeGreaterThan(0);
    const counters = await service.call('sessions.counters', { id: zap, t0: open.startNs, t1: open.endNs });
    expect(counters.exits).toBe(Object.values(open.exitsByReason).reduce((a, b) => a + b, 0));
    const cmp = await service.call('sessions.compare', { a: zap, b: upd });
    expect(cmp.totals.find((t) => t.key === 'exits')!.a).toBe(counters.exits);
    await expect(service.call('sessions.pageTables', { id: zap, at: open.events })).rejects.toThrow(ApiError);
    await expect(service.call('sessions.diff', { id: zap, from: 0, to: open.events + 5 })).rejects.toThrow(/events 0\.\./);
  });
});

describe('export', () => {
  it('writes the file in the exports folder and the browser host serves it as a download', async () => {
    const id = record('script-basic');
    const html = await service.call('sessions.export', { id, format: 'html', title: 'Scripted guest' });
    expect(html).toMatchObject({ fileName: 'script-basic.html', mimeType: 'text/html' });
    const res = await fetch(`http://127.0.0.1:${host.port}${html.url}?token=${host.token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(/attachment/);
    const text = await res.text();
    expect(Buffer.byteLength(text)).toBe(html.sizeBytes);
    expect(text).toContain('<h1>Scripted guest</h1>');
    const chrome = await service.call('sessions.export', { id, format: 'chrome' });
    const trace = JSON.parse(readFileSync(join(service.exportsDir, chrome.exportId), 'utf8')) as { traceEvents: unknown[] };
    expect(trace.traceEvents.length).toBeGreaterThan(0);
    // no token: refused; a path outside the exports folder: not found
    expect((await fetch(`http://127.0.0.1:${host.port}${html.url}`)).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${host.port}/exports/..%2Fsessions%2F${id}?token=${host.token}`)).status).toBe(404);
    // the session itself is not listed twice because of its exports
    expect((await service.call('sessions.list', {})).filter((s) => s.id === id)).toHaveLength(1);
  });
});

describe('damage found after opening', () => {
  it('a chunk that fails its checksum when first read is told to the UI once, as sessions.diagnostics', async () => {
    // the corpus file whose second event chunk has a flipped body byte: it opens clean
    const id = 'lazy-damage.mmulab';
    copyFileSync(fileURLToPath(new URL('../../sessions/fixtures/corrupt/001-flipped-event-body.mmulab', import.meta.url)), join(service.sessionsDir, id));
    const told: { id: string; codes: string[] }[] = [];
    const off = service.onEvent((m) => {
      if (m.event === 'sessions.diagnostics') {
        const p = m.payload as { id: string; diagnostics: { code: string }[] };
        told.push({ id: p.id, codes: p.diagnostics.map((d) => d.code) });
      }
    });
    try {
      const summary = await service.call('sessions.open', { id });
      expect(summary.diagnostics).toEqual([]);
      expect(told).toEqual([]);
      // reading every event reads the damaged chunk
      const page = await service.call('sessions.events', { id, from: 0, count: 10_000 });
      expect(page.events.length).toBeLessThan(summary.events);
      expect(told).toEqual([{ id, codes: ['damaged_chunk'] }]);
      // told once: reading again finds nothing new; a new open gives it in the summary
      await service.call('sessions.events', { id, from: 0, count: 10_000 });
      expect(told.length).toBe(1);
      expect((await service.call('sessions.open', { id })).diagnostics.map((d) => d.code)).toEqual(['damaged_chunk']);
    } finally {
      off();
    }
  });
});
