// The IPC rejection path (fiddle's ipc.spec, VS Code's validateEvent): a foreign sender, a
// subframe, an unknown window, a malformed or oversized payload is refused with a clear
// error, and the host service is not called; a good call goes through to a real service.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_METHODS, MAX_MESSAGE_BYTES } from '../api/contract.ts';
import { HostService } from '../host/hostService.ts';
import { createIpcHandler, ipcChannels, type Dispatch } from './ipc.ts';
import { APP_ORIGIN, type SenderEventLike } from './senderCheck.ts';

const policy = { knownWebContents: new Set([7]), allowedOrigins: new Set([APP_ORIGIN]) };
let dir: string;
let service: HostService;
const calls: string[] = [];
let dispatch: Dispatch;

function from(url: string, opts: { id?: number; subframe?: boolean } = {}): SenderEventLike {
  const mainFrame = { url, parent: null };
  return { senderFrame: opts.subframe ? { url, parent: mainFrame } : mainFrame, sender: { id: opts.id ?? 7, mainFrame } };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-ipc-'));
  service = new HostService({ sessionsDir: dir, host: 'electron', version: '9.9.9' });
  dispatch = (method, params) => {
    calls.push(method);
    return service.dispatch(method, params);
  };
});

afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('IPC registration', () => {
  it('has exactly one namespaced channel per API method', () => {
    const channels = ipcChannels();
    expect(channels.map((c) => c.method)).toEqual(API_METHODS);
    for (const { channel } of channels) expect(channel).toMatch(/^mmulab:[a-z]+(\.[A-Za-z]+)+$/);
  });

  it('lets our main frame through to the host service', async () => {
    const handler = createIpcHandler('app.info', dispatch, policy);
    expect(await handler(from('app://mmulab/index.html'), {})).toEqual({ ok: true, result: { version: '9.9.9', host: 'electron' } });
    expect(calls).toEqual(['app.info']);
  });

  it('refuses untrusted senders without calling the service', async () => {
    calls.length = 0;
    const handler = createIpcHandler('sessions.list', dispatch, policy);
    for (const event of [from('https://evil.example/'), from('app://mmulab/index.html', { subframe: true }), from('app://mmulab/index.html', { id: 8 }), from('file:///tmp/x.html')]) {
      const r = await handler(event, {});
      expect(r).toMatchObject({ ok: false, error: { code: 'bad-request' } });
      expect(r.ok || r.error.message).toMatch(/^refused: /);
    }
    expect(calls).toEqual([]);
  });

  it('refuses malformed and oversized payloads with a clear error', async () => {
    calls.length = 0;
    const open = createIpcHandler('sessions.open', dispatch, policy);
    const ok = from('app://mmulab/index.html');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(await open(ok, cyclic)).toMatchObject({ ok: false, error: { code: 'bad-request', message: 'sessions.open: params must be plain JSON data' } });
    expect(await open(ok, { id: 'x'.repeat(MAX_MESSAGE_BYTES) })).toMatchObject({ ok: false, error: { code: 'too-large' } });
    expect(calls).toEqual([]);
    const traversal = await open(ok, { id: '../../etc/passwd' });
    expect(traversal).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    expect(traversal.ok || traversal.error.message).toContain('params.id');
    expect(await open(ok, { id: 42 })).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    expect(await open(ok, 'not an object')).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    // Still serving.
    expect(await createIpcHandler('sessions.list', dispatch, policy)(ok, {})).toEqual({ ok: true, result: [] });
  });
  it('refuses values that are not JSON data, a frame that is gone, and calls outside the contract', async () => {
    calls.length = 0;
    const list = createIpcHandler('sessions.list', dispatch, policy);
    const ok = from('app://mmulab/index.html');
    // Structured clone can carry these over IPC; none of them is an API parameter.
    for (const params of [10n, { big: 1n }]) {
      expect(await list(ok, params)).toEqual({ ok: false, error: { code: 'bad-request', message: 'sessions.list: params must be plain JSON data' } });
    }
    for (const params of [new Date(0), new Uint8Array(4), [1, 2], 'text', 42]) {
      const r = await list(ok, params);
      expect(r, String(params)).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    }
    const gone: SenderEventLike = { senderFrame: null, sender: { id: 7, mainFrame: null } };
    expect(await list(gone, {})).toEqual({ ok: false, error: { code: 'bad-request', message: 'refused: the sending frame is gone' } });
    expect(await list(from('app://mmulab.evil/index.html'), {})).toMatchObject({ ok: false, error: { message: 'refused: origin app://mmulab.evil may not call the API' } });
    expect(await list(from('not a url'), {})).toMatchObject({ ok: false, error: { message: 'refused: the sender has no valid URL' } });
    // Only contract methods get a channel, so an unknown call has nowhere to land; the service
    // itself refuses one that arrives some other way.
    expect(ipcChannels().some((c) => c.channel === 'mmulab:fs.readFile')).toBe(false);
    await expect(service.dispatch('fs.readFile', { path: '/etc/passwd' })).rejects.toThrow('unknown method "fs.readFile"');
    expect(calls.filter((c) => c !== 'sessions.list')).toEqual([]);
    // Still serving.
    expect(await list(ok, {})).toMatchObject({ ok: true });
  });
});
