// The browser host against a real HTTP server and real WebSockets on 127.0.0.1: who gets in,
// what hostile messages get back, and that the host keeps serving afterwards.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAX_MESSAGE_BYTES, type EventMessage, type ResponseMessage, type RunStatus } from '../api/contract.ts';
import { startBrowserHost, type BrowserHost } from './browserHost.ts';
import { httpRequest } from './testing/http.ts';

let dir: string;
let host: BrowserHost;
let origin: string;

const get = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) => httpRequest(host.port, method, path, headers, body);

const cookie = () => `mmulab_token_${host.port}=${host.token}`;

/** Open a WebSocket; resolves with the socket or rejects with the HTTP status of the refusal. */
function openWs(headers: Record<string, string>, path = '/api'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}${path}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** A small client: numbered requests, responses matched by id, events collected. */
function client(ws: WebSocket) {
  const pending = new Map<number, (r: ResponseMessage) => void>();
  const events: EventMessage[] = [];
  const unmatched: ResponseMessage[] = [];
  const eventWaiters: Array<{ test: (e: EventMessage) => boolean; resolve: (e: EventMessage) => void }> = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as ResponseMessage | EventMessage;
    if ('event' in msg) {
      events.push(msg);
      for (const w of [...eventWaiters]) {
        if (w.test(msg)) {
          eventWaiters.splice(eventWaiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
      return;
    }
    const resolve = pending.get(msg.id);
    if (resolve) {
      pending.delete(msg.id);
      resolve(msg);
    } else unmatched.push(msg);
  });
  let next = 1;
  return {
    events,
    unmatched,
    call(method: string, params: unknown): Promise<ResponseMessage> {
      const id = next++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no response to ${method} (id ${id})`)), 15_000);
        pending.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    /** Send raw text; the response has no usable id, so it arrives as "unmatched". */
    async raw(text: string | Buffer): Promise<ResponseMessage> {
      const before = unmatched.length;
      ws.send(text);
      await expect.poll(() => unmatched.length, { timeout: 5000 }).toBeGreaterThan(before);
      return unmatched[before]!;
    },
    waitEvent(test: (e: EventMessage) => boolean): Promise<EventMessage> {
      const found = events.find(test);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => eventWaiters.push({ test, resolve }));
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-host-'));
  const staticDir = join(dir, 'static');
  mkdirSync(join(staticDir, 'assets'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>MMU Lab</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log("hi")');
  writeFileSync(join(dir, 'secret.txt'), 'outside the static folder');
  host = await startBrowserHost({ port: 0, sessionsDir: join(dir, 'sessions'), staticDir, progressIntervalMs: 50 });
  origin = `http://127.0.0.1:${host.port}`;
});

afterAll(async () => {
  await host?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('binding', () => {
  it('listens on 127.0.0.1 only, and prints a URL carrying the token', async () => {
    expect(host.address).toBe('127.0.0.1');
    expect(host.url).toBe(`http://127.0.0.1:${host.port}/?token=${host.token}`);
    expect(host.token.length).toBeGreaterThanOrEqual(32);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (external) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = connect({ host: external, port: host.port });
        s.once('connect', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', () => resolve(true));
      });
      expect(refused, `port ${host.port} must not be reachable on ${external}`).toBe(true);
    }
  });
});

describe('HTTP access', () => {
  it('refuses requests without the token', async () => {
    for (const path of ['/', '/index.html', '/assets/app.js', '/api', '/?token=wrong']) {
      const r = await get(path);
      expect(r.status, path).toBe(403);
      expect(r.body).not.toContain('<title>');
    }
    expect((await get('/', { Cookie: `mmulab_token_${host.port}=nope` })).status).toBe(403);
  });

  it('refuses a foreign Host header (DNS rebinding) even with the token', async () => {
    expect((await get(`/?token=${host.token}`, { Host: `evil.example:${host.port}` })).status).toBe(403);
  });

  it('serves the app with the token, sets a strict cookie, and accepts the cookie after', async () => {
    const first = await get(`/?token=${host.token}`);
    expect(first.status).toBe(200);
    expect(first.body).toContain('<title>MMU Lab</title>');
    const setCookie = String(first.headers['set-cookie']);
    expect(setCookie).toContain(`mmulab_token_${host.port}=${host.token}`);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(first.headers['content-security-policy']).toContain("script-src 'self'");
    expect(first.headers['content-security-policy']).not.toContain('unsafe-eval');
    expect(first.headers['x-content-type-options']).toBe('nosniff');
    expect(first.headers['cache-control']).toBe('no-store');
    const asset = await get('/assets/app.js', { Cookie: cookie() });
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toContain('text/javascript');
  });

  it('makes path traversal impossible', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/..\\secret.txt', '/%00index.html']) {
      const r = await get(path, { Cookie: cookie() });
      expect(r.status, path).toBe(404);
      expect(r.body).not.toContain('outside the static folder');
    }
  });

  it('accepts a POSTed API request from our origin and refuses a foreign one', async () => {
    const ok = await get('/api', { Cookie: cookie(), 'Content-Type': 'application/json', Origin: origin }, 'POST', JSON.stringify({ id: 7, method: 'app.info', params: {} }));
    expect(JSON.parse(ok.body)).toEqual({ id: 7, ok: true, result: { version: '0.0.0', host: 'browser' } });
    const foreign = await get('/api', { Cookie: cookie(), 'Content-Type': 'application/json', Origin: 'http://evil.example' }, 'POST', '{}');
    expect(foreign.status).toBe(403);
  });
});

describe('WebSocket access', () => {
  it('refuses an upgrade without the token or cookie', async () => {
    await expect(openWs({ Origin: origin })).rejects.toThrow('status 403');
    await expect(openWs({ Origin: origin, Cookie: `mmulab_token_${host.port}=wrong` })).rejects.toThrow('status 403');
  });

  it('refuses an upgrade from another origin, even with the cookie', async () => {
    await expect(openWs({ Origin: 'http://evil.example', Cookie: cookie() })).rejects.toThrow('status 403');
    await expect(openWs({ Origin: 'http://127.0.0.1:1', Cookie: cookie() })).rejects.toThrow('status 403');
    await expect(openWs({ Cookie: cookie() })).rejects.toThrow('status 403');
  });

  it('accepts our origin with the cookie', async () => {
    const ws = await openWs({ Origin: origin, Cookie: cookie() });
    const c = client(ws);
    const r = await c.call('app.info', {});
    expect(r).toEqual({ id: 1, ok: true, result: { version: '0.0.0', host: 'browser' } });
    ws.close();
  });
});

describe('hostile API messages', () => {
  it('answers each with a clear error and keeps serving', async () => {
    const ws2Closed: Array<(code: number) => void> = [];
    const ws = await openWs({ Origin: origin, Cookie: cookie() });
    const c = client(ws);

    const notJson = await c.raw('this is not json');
    expect(notJson).toMatchObject({ ok: false, error: { code: 'bad-request', message: 'message is not valid JSON' } });

    const notObject = await c.raw('[1,2,3]');
    expect(notObject).toMatchObject({ ok: false, error: { code: 'bad-request' } });

    const unknown = await c.call('fs.readFile', { path: '/etc/passwd' });
    expect(unknown).toMatchObject({ id: 1, ok: false, error: { code: 'unknown-method' } });
    expect(unknown.ok || unknown.error.message).toContain('fs.readFile');

    const wrongType = await c.call('sessions.events', { id: 'a.mmulab', from: 'zero', count: 10 });
    expect(wrongType).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    expect(wrongType.ok || wrongType.error.message).toContain('params.from');

    const extraKey = await c.call('app.info', { evil: true });
    expect(extraKey.ok || extraKey.error.message).toContain('evil');

    for (const id of ['../../etc/passwd', '/etc/passwd.mmulab', '..\\..\\x.mmulab', 'a/../../b.mmulab']) {
      const traversal = await c.call('sessions.open', { id });
      expect(traversal, id).toMatchObject({ ok: false, error: { code: 'bad-request' } });
      expect(traversal.ok || traversal.error.message).toContain('params.id');
    }
    const missing = await c.call('sessions.open', { id: 'nothing-here.mmulab' });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not-found' } });

    const huge = await c.call('scenarios.validate', { scenario: 'x'.repeat(MAX_MESSAGE_BYTES + 10) });
    expect(huge).toMatchObject({ ok: false, error: { code: 'too-large' } });
    // Far over the limit: the socket may be closed (1009), but the host keeps serving others.
    const giant = new Promise<number>((resolve) => ws2Closed.push(resolve));
    const victim = await openWs({ Origin: origin, Cookie: cookie() });
    victim.on('close', (code) => ws2Closed.shift()?.(code));
    victim.send('x'.repeat(8 * MAX_MESSAGE_BYTES));
    expect(await giant).toBe(1009);

    const badScenario = await c.call('runs.start', { scenario: { scenario: { name: 'x', vms: [{ guest: { workload: { kind: 'nope' } } }] } } });
    expect(badScenario).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    expect(badScenario.ok || badScenario.error.message).toMatch(/^scenario: vms\[0\]\.guest\.workload/);

    const unknownRun = await c.call('runs.control', { runId: 'run-nope', action: 'pause' });
    expect(unknownRun).toMatchObject({ ok: false, error: { code: 'not-found' } });

    for (const r of [notJson, unknown, wrongType, huge]) {
      expect(JSON.stringify(r)).not.toMatch(/\n\s+at /); // no stack traces
    }

    // Still serving, on the same socket and on a new one.
    expect(await c.call('app.info', {})).toMatchObject({ ok: true });
    const ws2 = await openWs({ Origin: origin, Cookie: cookie() });
    expect(await client(ws2).call('sessions.list', {})).toMatchObject({ ok: true });
    ws.close();
    ws2.close();
  });
});

const demandScenario = (vms: number, pages: number) => ({
  name: 'host test',
  seed: 3,
  hardware: { profile: 'vtx-2007' },
  vms: Array.from({ length: vms }, () => ({
    vcpus: 1,
    memoryMiB: 64,
    guest: { paging: 'long4', workload: { kind: 'demand-paging', pages } },
    mmu: { mode: 'shadow', shadow: { onGuestPteWrite: 'zap' } },
  })),
});

describe('runs over the WebSocket', () => {
  it('lists the built-in scenarios and runs one by name', async () => {
    const ws = await openWs({ Origin: origin, Cookie: cookie() });
    const c = client(ws);
    const list = await c.call('scenarios.list', {});
    const names = (list as { result: Array<{ name: string }> }).result.map((s) => s.name);
    expect(names.length).toBeGreaterThan(0);
    const got = await c.call('scenarios.get', { name: names[0] });
    expect(await c.call('scenarios.validate', { scenario: (got as { result: unknown }).result })).toMatchObject({ ok: true, result: { ok: true } });
    const started = await c.call('runs.start', { scenario: { builtin: names[0] } });
    expect(started).toMatchObject({ ok: true, result: { state: 'running' } });
    const runId = (started as { result: RunStatus }).result.runId;
    const end = await c.waitEvent((e) => e.event === 'runs.progress' && (e.payload as RunStatus).runId === runId && (e.payload as RunStatus).state !== 'running' && (e.payload as RunStatus).state !== 'paused');
    expect((end.payload as RunStatus).state, (end.payload as RunStatus).message).toBe('finished');
    expect(await c.call('runs.start', { scenario: { builtin: 'no-such-scenario' } })).toMatchObject({ ok: false, error: { code: 'not-found' } });
    ws.close();
  });

  it('records a session whose exit count equals the reader’s', async () => {
    const ws = await openWs({ Origin: origin, Cookie: cookie() });
    const c = client(ws);
    const started = await c.call('runs.start', { scenario: { scenario: demandScenario(2, 64) } });
    expect(started).toMatchObject({ ok: true });
    const run = (started as { result: RunStatus }).result;
    expect(run.sessionId).toMatch(/\.mmulab$/);
    const end = await c.waitEvent((e) => e.event === 'runs.progress' && (e.payload as RunStatus).runId === run.runId && ['finished', 'failed', 'stopped'].includes((e.payload as RunStatus).state));
    const final = end.payload as RunStatus;
    expect(final.state, final.message).toBe('finished');
    expect(final.exits).toBeGreaterThan(0);
    expect(final.vms).toHaveLength(2);

    const list = await c.call('sessions.list', {});
    expect(list.ok && (list.result as Array<{ id: string }>).map((s) => s.id)).toContain(run.sessionId);
    const opened = await c.call('sessions.open', { id: run.sessionId });
    expect(opened).toMatchObject({ ok: true });
    const summary = (opened as { result: { events: number; complete: boolean; eventsByType: Record<string, number> } }).result;
    expect(summary.complete).toBe(true);
    expect(summary.events).toBe(final.events);
    expect(summary.eventsByType.vmexit ?? 0).toBe(final.exits);
    const status = await c.call('runs.status', { runId: run.runId });
    expect(status).toMatchObject({ ok: true, result: { state: 'finished', exits: final.exits } });
    ws.close();
  });
});
