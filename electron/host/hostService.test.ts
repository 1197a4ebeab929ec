// The host service in process: importing session files the shell hands it (File → Open, the
// OS), and the dispatcher's answers to hostile input without any transport in between.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventMessage } from '../api/contract.ts';
import { HostService } from './hostService.ts';

let dir: string;
let service: HostService;
const events: EventMessage[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-service-'));
  service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'electron', version: '1.2.3' });
  service.onEvent((m) => events.push(m));
});

afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('handleRequest', () => {
  it('never throws and names the problem', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      ['{', 'bad-request', /not valid JSON/],
      [new Uint8Array([0xff, 0xfe]), 'bad-request', /not valid JSON/],
      [null, 'bad-request', /message/],
      [{ id: 1, method: 'app.info' }, 'ok', /./],
      [{ id: 'x', method: 'app.info', params: {} }, 'bad-request', /message\.id/],
      [{ id: 2, method: 'app.info', params: {}, extra: 1 }, 'bad-request', /extra/],
      [{ id: 3, method: '__proto__', params: {} }, 'unknown-method', /__proto__/],
      [{ id: 4, method: 'constructor', params: {} }, 'unknown-method', /constructor/],
      [{ id: 5, method: 'sessions.timeline', params: { id: 'a.mmulab', t0: 5, t1: 1, buckets: 10 } }, 'bad-request', /t1/],
      [{ id: 6, method: 'sessions.events', params: { id: 'a.mmulab', from: 0, count: 1e9 } }, 'bad-request', /params\.count/],
      [{ id: 7, method: 'runs.start', params: { scenario: { builtin: 'x', scenario: {} } } }, 'bad-request', /scenario/],
      [JSON.stringify({ id: 8, method: 'app.info', params: { pad: 'x'.repeat(1 << 20) } }), 'too-large', /limit/],
    ];
    for (const [raw, code, message] of cases) {
      const r = await service.handleRequest(raw);
      if (code === 'ok') expect(r.ok).toBe(true);
      else {
        expect(r, JSON.stringify(raw).slice(0, 80)).toMatchObject({ ok: false, error: { code } });
        expect(r.ok || r.error.message).toMatch(message);
      }
    }
    const big = await service.handleRequest(JSON.stringify({ id: 8, method: 'app.info', params: { pad: 'x'.repeat(1 << 20) } }));
    expect(big.id).toBe(8); // the leading id is still answered to
    expect(await service.handleRequest({ id: 9, method: 'app.info', params: {} })).toEqual({ id: 9, ok: true, result: { version: '1.2.3', host: 'electron' } });
  });
});

describe('importSession', () => {
  it('copies a session from elsewhere, asks the UI to open it, and refuses what is not a session', async () => {
    const run = await service.call('runs.start', { scenario: { builtin: 'demand-update' } });
    await service.waitForRun(run.runId);
    const elsewhere = join(dir, 'my recording.mmulab');
    copyFileSync(join(service.sessionsDir, run.sessionId), elsewhere);

    const id = service.importSession(elsewhere);
    expect(id).toBe('my recording.mmulab');
    expect(events.some((e) => e.event === 'sessions.openRequested' && (e.payload as { id: string }).id === id)).toBe(true);
    expect((await service.call('sessions.open', { id })).complete).toBe(true);
    expect(service.importSession(elsewhere)).toBe('my recording-2.mmulab'); // never overwrites
    expect(service.importSession(join(service.sessionsDir, id))).toBe(id); // already in the folder: used in place
    const before = readdirSync(service.sessionsDir).length;

    const junk = join(dir, 'junk.mmulab');
    writeFileSync(junk, 'not a session at all');
    expect(() => service.importSession(junk)).toThrow(/not a readable session/);
    expect(() => service.importSession(join(dir, 'notes.txt'))).toThrow(/not a \.mmulab/);
    expect(() => service.importSession(join(dir, 'missing.mmulab'))).toThrow(/cannot read/);
    expect(readdirSync(service.sessionsDir).length).toBe(before);
  });
});

describe('sessions folder', () => {
  it('tells the UI when a session file appears from outside', async () => {
    const before = events.filter((e) => e.event === 'sessions.changed').length;
    writeFileSync(join(service.sessionsDir, 'from-the-cli.mmulab'), 'x');
    await expect.poll(() => events.filter((e) => e.event === 'sessions.changed').length, { timeout: 5000 }).toBeGreaterThan(before);
    const list = await service.call('sessions.list', {});
    expect(list.map((s) => s.id)).toContain('from-the-cli.mmulab');
    const bad = await service.handleRequest({ id: 1, method: 'sessions.open', params: { id: 'from-the-cli.mmulab' } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'bad-session' } });
  });
});
