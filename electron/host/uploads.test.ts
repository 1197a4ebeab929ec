// Trace uploads against the real browser host (HTTP server on 127.0.0.1, real WebSocket and raw
// HTTP clients): a trace the disk has no room for is refused up front, and an upload whose client
// goes away (its WebSocket closes, or a POSTed chunk is aborted mid-body) frees its slot at once.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TRACE_CHUNK_BYTES, type ResponseMessage, type TraceImportStatus } from '../api/contract.ts';
import { startBrowserHost, type BrowserHost } from './browserHost.ts';
import { HostService } from './hostService.ts';
import { MAX_ACTIVE_IMPORTS } from './traceImports.ts';

let dir: string;
let host: BrowserHost;
let origin: string;
const cookie = () => `mmulab_token_${host.port}=${host.token}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-uploads-'));
  host = await startBrowserHost({ port: 0, sessionsDir: join(dir, 'sessions'), staticDir: join(dir, 'no-renderer'), progressIntervalMs: 0 });
  origin = `http://127.0.0.1:${host.port}`;
});
afterAll(async () => {
  await host?.close();
  rmSync(dir, { recursive: true, force: true });
});

function openWs(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api`, { headers: { Cookie: cookie(), Origin: origin } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function wsCall(ws: WebSocket, id: number, method: string, params: unknown): Promise<ResponseMessage> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const msg = JSON.parse(String(data)) as ResponseMessage | { event: string };
      if ('id' in msg && msg.id === id) {
        ws.off('message', onMessage);
        resolve(msg);
      }
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id, method, params }));
  });
}

/** POST one API request over HTTP and read the JSON answer. */
function post(body: unknown): Promise<ResponseMessage> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: host.port, path: '/api', method: 'POST', headers: { Cookie: cookie(), Origin: origin, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } },
      (res) => {
        let out = '';
        res.on('data', (c: Buffer) => (out += String(c)));
        res.on('end', () => resolve(JSON.parse(out) as ResponseMessage));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const importId = (r: ResponseMessage) => (r.ok ? (r.result as TraceImportStatus).importId : '');
/** Uploads begun over HTTP by a test, cancelled after it. */
const begun: string[] = [];
async function begin(n: number): Promise<ResponseMessage> {
  const r = await post({ id: n, method: 'traces.begin', params: { fileName: `t${n}.txt`, sizeBytes: 1000 } });
  if (r.ok) begun.push(importId(r));
  return r;
}
const cancel = (id: string) => post({ id: 99, method: 'traces.cancel', params: { importId: id } });
afterEach(async () => {
  for (const id of begun.splice(0)) await cancel(id);
});

/** Begin uploads until the slots run out; returns their ids (cancel them after). */
async function fillSlots(): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < MAX_ACTIVE_IMPORTS; n++) {
    const r = await begin(100 + n);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    ids.push(importId(r));
  }
  const over = await begin(200);
  expect(over.ok).toBe(false);
  return ids;
}

describe('trace uploads', () => {
  it('refuse a trace the disk has no room for, before taking a slot or a byte', async () => {
    const fs = statfsSync(join(dir, 'sessions'));
    const free = Number(fs.bavail) * Number(fs.bsize);
    // twice the free space: the trace alone would not fit
    const r = await post({ id: 1, method: 'traces.begin', params: { fileName: 'huge.txt', sizeBytes: Math.min(2 ** 40, 2 * free) } });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toMatch(/^not enough free disk space for huge\.txt: it needs about [\d.]+ [MG]B \(the trace, the session it becomes and a margin\) and the sessions folder's disk has [\d.]+ [MG]B free$/);
    expect(readdirSync(join(dir, 'sessions')).filter((f) => f !== '.imports')).toEqual([]);
    await fillSlots(); // no slot was taken by the refused one
  });

  it('free the slot of an upload whose WebSocket closes', async () => {
    const ws = await openWs();
    const begun = await wsCall(ws, 1, 'traces.begin', { fileName: 'ws.txt', sizeBytes: 1000 });
    expect(begun.ok).toBe(true);
    expect((await wsCall(ws, 2, 'traces.upload', { importId: importId(begun), offset: 0, data: Buffer.from('x'.repeat(300)).toString('base64') })).ok).toBe(true);
    // three more uploads from elsewhere: now every slot is taken
    for (let n = 0; n < MAX_ACTIVE_IMPORTS - 1; n++) await begin(300 + n);
    expect((await begin(310)).ok).toBe(false);
    ws.terminate(); // the tab is closed mid-upload
    await expect.poll(async () => (await begin(320)).ok, { timeout: 5000 }).toBe(true);
    expect(readdirSync(join(dir, 'sessions', '.imports')).some((f) => f.startsWith(importId(begun)))).toBe(false);
    const all = await post({ id: 5, method: 'traces.cancel', params: { importId: importId(begun) } });
    expect(all.ok && (all.result as TraceImportStatus).state).toBe('cancelled');
    expect(all.ok && (all.result as TraceImportStatus).message).toMatch(/the client went away/);
  });

  it('session-file uploads follow the same rules: free space first, slot freed when the client goes away', async () => {
    const free = (() => {
      const fs = statfsSync(join(dir, 'sessions'));
      return Number(fs.bavail) * Number(fs.bsize);
    })();
    const huge = await post({ id: 1, method: 'sessions.uploadBegin', params: { fileName: 'huge.mmulab', sizeBytes: Math.min(2 ** 40, free + 1) } });
    expect(!huge.ok && huge.error.message).toMatch(/^not enough free disk space for huge\.mmulab: it needs about [\d.]+ [MG]B \(the session file and a margin\)/);
    const ws = await openWs();
    const mine = await wsCall(ws, 1, 'sessions.uploadBegin', { fileName: 'mine.mmulab', sizeBytes: 1000 });
    expect(mine.ok).toBe(true);
    const others: string[] = [];
    const beginSession = async (n: number) => {
      const r = await post({ id: n, method: 'sessions.uploadBegin', params: { fileName: `s${n}.mmulab`, sizeBytes: 1000 } });
      if (r.ok) others.push((r.result as { uploadId: string }).uploadId);
      return r;
    };
    for (let n = 0; n < 3; n++) expect((await beginSession(500 + n)).ok).toBe(true);
    expect((await beginSession(510)).ok).toBe(false);
    ws.terminate();
    await expect.poll(async () => (await beginSession(520)).ok, { timeout: 5000 }).toBe(true);
    for (const uploadId of others) await post({ id: 98, method: 'sessions.uploadCancel', params: { uploadId } });
  });

  it('free the slot of an upload whose POSTed chunk is aborted mid-body', async () => {
    const ids = await fillSlots();
    const victim = ids[0]!;
    // A real HTTP client that announces a large chunk, sends the start of it, and goes away.
    const head = `{"id":9,"method":"traces.upload","params":{"importId":"${victim}","offset":0,"data":"`;
    await new Promise<void>((resolve) => {
      const req = request({
        host: '127.0.0.1',
        port: host.port,
        path: '/api',
        method: 'POST',
        headers: { Cookie: cookie(), Origin: origin, 'Content-Type': 'application/json', 'Content-Length': head.length + 100_000 },
      });
      req.on('error', () => resolve());
      req.write(head + 'eHh4'.repeat(100), () => setTimeout(() => req.destroy(), 50));
      req.on('close', () => resolve());
    });
    await expect.poll(async () => (await begin(400)).ok, { timeout: 5000 }).toBe(true);
    const status = await cancel(victim);
    expect(status.ok && (status.result as TraceImportStatus).message).toMatch(/went away mid-chunk/);
  });
});

describe('an upload onto a disk that fills up (a real 100 MB tmpfs; needs root)', () => {
  it('ends failed with "the disk is full" and keeps nothing', async (ctx) => {
    const mnt = mkdtempSync(join(tmpdir(), 'mmulab-fulldisk-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=100m', 'tmpfs', mnt]).status === 0;
    if (!mounted) {
      console.log('skipped: cannot mount a tmpfs here (needs root)');
      rmSync(mnt, { recursive: true, force: true });
      ctx.skip();
      return;
    }
    const small = new HostService({ sessionsDir: join(mnt, 'sessions'), host: 'browser' });
    try {
      const begun = await small.call('traces.begin', { fileName: 'big.txt', sizeBytes: 16 * 1024 * 1024 });
      // something else fills the disk while the upload runs
      const filler = Buffer.alloc(1024 * 1024);
      for (let i = 0; ; i++) {
        try {
          writeFileSync(join(mnt, `filler-${i}`), filler);
        } catch {
          break;
        }
      }
      const chunk = Buffer.alloc(TRACE_CHUNK_BYTES, 120).toString('base64');
      let error: unknown;
      for (let off = 0; off < 16 * 1024 * 1024 && !error; off += TRACE_CHUNK_BYTES)
        await small.call('traces.upload', { importId: begun.importId, offset: off, data: chunk }).catch((e: unknown) => (error = e));
      expect(String(error)).toMatch(/the disk is full; nothing kept/);
      expect(readdirSync(join(mnt, 'sessions', '.imports'))).toEqual([]);
      const after = await small.call('traces.cancel', { importId: begun.importId });
      expect(after.state).toBe('failed');
    } finally {
      await small.close();
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
