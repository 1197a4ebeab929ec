// Hostile input over real HTTP and WebSockets (the browser host on 127.0.0.1), beyond the
// access checks in browserHost.test.ts: oversized and malformed bodies, wrong methods and
// content types, invalid UTF-8, pathological JSON, prototype keys, a burst of requests. Each
// gets one clear error (never a stack trace) and the host keeps serving.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAX_MESSAGE_BYTES, type ResponseMessage } from '../api/contract.ts';
import { startBrowserHost, type BrowserHost } from './browserHost.ts';
import { httpRequest } from './testing/http.ts';

let dir: string;
let host: BrowserHost;
let origin: string;

const http = (method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer) => httpRequest(host.port, method, path, headers, body);

const auth = () => ({ Cookie: `mmulab_token_${host.port}=${host.token}` });
const post = (body: string | Buffer, headers: Record<string, string> = {}) => http('POST', '/api', { ...auth(), 'Content-Type': 'application/json', ...headers }, body);

function openWs(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api`, { headers: { Origin: origin, ...auth() } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Send one raw frame; resolve with the next response. */
function wsOnce(ws: WebSocket, data: string | Buffer, binary = false): Promise<ResponseMessage> {
  return new Promise((resolve) => {
    ws.once('message', (m) => resolve(JSON.parse(String(m)) as ResponseMessage));
    ws.send(data, { binary });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-hostile-'));
  mkdirSync(join(dir, 'static'));
  writeFileSync(join(dir, 'static', 'index.html'), '<!doctype html><title>MMU Lab</title>');
  host = await startBrowserHost({ port: 0, sessionsDir: join(dir, 'sessions'), staticDir: join(dir, 'static') });
  origin = `http://127.0.0.1:${host.port}`;
});

afterAll(async () => {
  await host?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function stillServing(): Promise<void> {
  const r = await post(JSON.stringify({ id: 9, method: 'app.info', params: {} }));
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body)).toMatchObject({ id: 9, ok: true, result: { host: 'browser' } });
}

describe('hostile HTTP requests to /api', () => {
  it('refuses each with a clear status and message', async () => {
    const huge = await post('{"id":1,"method":"app.info","params":{"x":"' + 'x'.repeat(MAX_MESSAGE_BYTES) + '"}}');
    // Either the 413 answer, or the connection closed under the rest of the upload.
    if (huge.status !== -1) {
      expect(huge.status).toBe(413);
      expect(JSON.parse(huge.body)).toMatchObject({ ok: false, error: { code: 'too-large' } });
    }
    expect((await post('{"id":1}', { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect(await http('GET', '/api', auth())).toMatchObject({ status: 405 });
    // the static files and the exports are read-only: other methods are refused, saying which are allowed
    expect(await http('PUT', '/', auth(), 'x')).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
    expect(await http('DELETE', '/exports/x.jsonl', auth())).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
    expect(await post(JSON.stringify({ id: 1, method: 'app.info', params: {} }), { Origin: 'https://evil.example' })).toMatchObject({ status: 403 });

    const answers = await Promise.all(
      [
        'not json',
        '{"id":1,',
        JSON.stringify({ id: 2, method: 'fs.readFile', params: { path: '/etc/passwd' } }),
        JSON.stringify({ id: 3, method: 'sessions.events', params: { id: 'a.mmulab', from: -1, count: 1e9 } }),
        JSON.stringify({ id: 4, method: 123, params: {} }),
        JSON.stringify({ id: 5, method: 'runs.setSpeed', params: { runId: 'r', nsPerSecond: 'fast' } }),
        JSON.stringify({ id: 6, method: 'sessions.open', params: { id: '/etc/passwd' } }),
      ].map(async (body) => JSON.parse((await post(body)).body) as ResponseMessage),
    );
    expect(answers.map((a) => (a.ok ? 'ok' : a.error.code))).toEqual(['bad-request', 'bad-request', 'unknown-method', 'bad-request', 'bad-request', 'bad-request', 'bad-request']);
    for (const a of answers) {
      if (a.ok) continue;
      expect(a.error.message).not.toMatch(/\n|\bat \S+:\d+/); // one line, no stack
      expect(a.error.message.length).toBeLessThan(600);
    }
    expect(answers[2]!.ok || answers[2]!.error.message).toBe('unknown method "fs.readFile"');
    expect(answers[3]!.ok || answers[3]!.error.message).toMatch(/^sessions\.events: params\.from: /);
    await stillServing();
  });
});

describe('hostile WebSocket frames', () => {
  it('answers invalid UTF-8, deep nesting, prototype keys and a burst, and keeps serving', async () => {
    const ws = await openWs();
    const invalidUtf8 = await wsOnce(ws, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), true);
    expect(invalidUtf8).toMatchObject({ ok: false, error: { code: 'bad-request', message: 'message is not valid JSON' } });

    const deep = '['.repeat(400_000) + ']'.repeat(400_000);
    const nested = await wsOnce(ws, deep);
    expect(nested.ok).toBe(false);

    const proto = await wsOnce(ws, '{"id":7,"method":"app.info","params":{"__proto__":{"polluted":true}}}');
    expect(proto).toMatchObject({ id: 7, ok: false, error: { code: 'bad-request' } });
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();

    // A burst of 300 requests on one socket: every one answered, in any order, with its id.
    const ids = new Set<number>();
    const done = new Promise<void>((resolve) => {
      ws.on('message', (m) => {
        const r = JSON.parse(String(m)) as ResponseMessage;
        if (r.id >= 1000 && r.ok) ids.add(r.id);
        if (ids.size === 300) resolve();
      });
    });
    for (let i = 0; i < 300; i++) ws.send(JSON.stringify({ id: 1000 + i, method: i % 2 ? 'sessions.list' : 'scenarios.list', params: {} }));
    await done;
    ws.close();
    await stillServing();
  });
});
