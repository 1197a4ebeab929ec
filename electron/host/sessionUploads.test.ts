// Sessions opened from the UI (Open session…, a dropped .mmulab) through the real dispatcher: the
// bytes arrive in chunks, the file is checked with the reader and kept under the user's own
// name; a damaged file, a short upload or a cancel keep nothing.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBuiltin } from '../../core/builtins.ts';
import { parseScenario } from '../../core/scenario.ts';
import { recordScenario } from '../../sessions/record.ts';
import { TRACE_CHUNK_BYTES } from '../api/contract.ts';
import { HostService } from './hostService.ts';

let dir: string;
let service: HostService;
let recorded: Buffer;

async function upload(fileName: string, bytes: Buffer, chunk = TRACE_CHUNK_BYTES): Promise<string> {
  const { uploadId } = await service.call('sessions.uploadBegin', { fileName, sizeBytes: bytes.length });
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    await service.call('sessions.uploadChunk', { uploadId, offset, data: bytes.subarray(offset, offset + chunk).toString('base64') });
  }
  return (await service.call('sessions.uploadFinish', { uploadId })).sessionId;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-upl-'));
  service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'browser' });
  const p = parseScenario(findBuiltin('demand-update')!.scenario);
  if (!p.ok) throw new Error(p.error);
  recordScenario(p.value, join(dir, 'outside.mmulab'), {});
  recorded = readFileSync(join(dir, 'outside.mmulab'));
});
afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sessions.upload*', () => {
  it('keeps the file byte for byte under the user file name, then beside it under a free one', async () => {
    const first = await upload('my run.mmulab', recorded, 4096);
    expect(first).toBe('my run.mmulab');
    expect(readFileSync(join(service.sessionsDir, first)).equals(recorded)).toBe(true);
    expect(await upload('my run.mmulab', recorded)).toBe('my run-2.mmulab');
    const summary = await service.call('sessions.open', { id: 'my run.mmulab' });
    expect(summary.events).toBeGreaterThan(0);
  });

  it('refuses a file that is not a session, a short upload and a chunk out of order; keeps nothing', async () => {
    const before = readdirSync(service.sessionsDir).sort();
    await expect(upload('junk.mmulab', Buffer.from('not a session, just text'))).rejects.toThrow(/junk\.mmulab is not a readable session/);
    const { uploadId } = await service.call('sessions.uploadBegin', { fileName: 'short.mmulab', sizeBytes: recorded.length });
    await expect(service.call('sessions.uploadChunk', { uploadId, offset: 10, data: 'AAAA' })).rejects.toThrow(/offset is 10; the upload has 0 bytes/);
    await service.call('sessions.uploadChunk', { uploadId, offset: 0, data: recorded.subarray(0, 100).toString('base64') });
    await expect(service.call('sessions.uploadFinish', { uploadId })).rejects.toThrow(/has 100 of the/);
    await expect(service.call('sessions.uploadBegin', { fileName: 'trace.txt', sizeBytes: 3 })).rejects.toThrow(/not a session file/);
    expect(readdirSync(service.sessionsDir).sort()).toEqual(before);
    expect(readdirSync(join(service.sessionsDir, '.uploads'))).toEqual([]);
  });

  it('cancel removes the partial upload; sessions.pick needs a desktop dialog', async () => {
    const { uploadId } = await service.call('sessions.uploadBegin', { fileName: 'gone.mmulab', sizeBytes: recorded.length });
    await service.call('sessions.uploadChunk', { uploadId, offset: 0, data: recorded.subarray(0, 1000).toString('base64') });
    expect(await service.call('sessions.uploadCancel', { uploadId })).toEqual({ cancelled: true });
    expect(readdirSync(join(service.sessionsDir, '.uploads'))).toEqual([]);
    expect(existsSync(join(service.sessionsDir, 'gone.mmulab'))).toBe(false);
    await expect(service.call('sessions.pick', {})).rejects.toThrow(/no file dialog/);
  });
});
