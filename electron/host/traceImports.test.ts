// Trace imports through the real dispatcher (params and results checked against the contract):
// upload in chunks, import into a real session in the sessions folder, progress events, cancel,
// and the refusals, with exit counts checked against the independent text oracle.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countText } from '../../sessions/testing/traceTextCounts.ts';
import { ApiError, TRACE_CHUNK_BYTES, type TraceImportStatus } from '../api/contract.ts';
import { HostService } from './hostService.ts';

const FIXTURES = fileURLToPath(new URL('../../sessions/import/fixtures/', import.meta.url));
let dir: string;
let service: HostService;
const events: TraceImportStatus[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-traces-'));
  service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'browser', progressIntervalMs: 0 });
  service.onEvent((m) => {
    if (m.event === 'traces.progress') events.push(m.payload as TraceImportStatus);
  });
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

function ended(importId: string): Promise<TraceImportStatus> {
  return new Promise((resolve) => {
    const poll = () => {
      const last = events.filter((e) => e.importId === importId).pop();
      if (last && ['done', 'failed', 'cancelled'].includes(last.state)) resolve(last);
      else setTimeout(poll, 10);
    };
    poll();
  });
}

async function upload(bytes: Buffer, fileName: string, chunk = TRACE_CHUNK_BYTES): Promise<string> {
  const begun = await service.call('traces.begin', { fileName, sizeBytes: bytes.length });
  for (let off = 0; off < bytes.length; off += chunk)
    await service.call('traces.upload', { importId: begun.importId, offset: off, data: bytes.subarray(off, off + chunk).toString('base64') });
  return begun.importId;
}

describe('traces.* through the dispatcher', () => {
  it('uploads in chunks, imports into a new session that opens with the exits counted from the text', async () => {
    const name = 'tracecmd-kvm-dirty-ring-2019.txt';
    const bytes = readFileSync(join(FIXTURES, name));
    const importId = await upload(bytes, name, 700); // several chunks
    const started = await service.call('traces.import', { importId });
    expect(started.state).toBe('importing');
    const end = await ended(importId);
    expect(end.state, end.message).toBe('done');
    expect(end.sessionId).toBe('tracecmd-kvm-dirty-ring-2019.mmulab');
    const summary = await service.call('sessions.open', { id: end.sessionId! });
    const counts = countText(bytes.toString('utf8'));
    expect(Object.values(summary.exitsByReason).reduce((a, b) => a + b, 0)).toBe(counts.byEvent.kvm_exit);
    expect((await service.call('sessions.list', {})).map((s) => s.id)).toContain(end.sessionId);
    // progress went up and the upload is gone
    const fractions = events.filter((e) => e.importId === importId).map((e) => e.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(readdirSync(join(service.sessionsDir, '.imports'))).toEqual([]);
    // a second import of the same name gets a free id
    const again = await upload(bytes, name);
    await service.call('traces.import', { importId: again });
    expect((await ended(again)).sessionId).toBe('tracecmd-kvm-dirty-ring-2019-2.mmulab');
  });

  it('a summary table is not a trace: failed, with the reason, and no session', async () => {
    const importId = await upload(readFileSync(join(FIXTURES, 'kvm-stat-samples.txt')), 'kvm-stat-samples.txt');
    await service.call('traces.import', { importId });
    const end = await ended(importId);
    expect(end.state).toBe('failed');
    expect(end.message).toMatch(/kvm_stat. output, not a trace/);
    expect(existsSync(join(service.sessionsDir, 'kvm-stat-samples.mmulab'))).toBe(false);
  });

  it('cancel during the upload or the import keeps nothing', async () => {
    const first = await upload(Buffer.from('half'), 'half.txt');
    const c = await service.call('traces.cancel', { importId: first });
    expect(c.state).toBe('cancelled');
    await expect(service.call('traces.upload', { importId: first, offset: 4, data: '' })).rejects.toThrow(/cancelled, not uploading/);
    // a trace big enough that the import is still running when cancelled
    const line = (i: number) => `qemu-1 [000] d.... ${1000 + i / 1e6}: kvm_exit: vcpu 0 reason HLT rip 0x1 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0\n`;
    const big = Buffer.from(Array.from({ length: 60_000 }, (_, i) => line(i)).join(''));
    const second = await upload(big, 'big.txt');
    await service.call('traces.import', { importId: second });
    await service.call('traces.cancel', { importId: second });
    const end = await ended(second);
    expect(end.state).toBe('cancelled');
    expect(existsSync(join(service.sessionsDir, 'big.mmulab'))).toBe(false);
    expect(readdirSync(join(service.sessionsDir, '.imports'))).toEqual([]);
  });

  it('refuses out-of-order chunks, more bytes than announced, short uploads and ids that are not its own', async () => {
    const importId = (await service.call('traces.begin', { fileName: '../../etc/passwd', sizeBytes: 4 })).importId;
    await expect(service.call('traces.upload', { importId, offset: 2, data: 'YWI=' })).rejects.toThrow(/offset is 2; the upload has 0 bytes/);
    await expect(service.call('traces.upload', { importId, offset: 0, data: Buffer.from('abcdef').toString('base64') })).rejects.toThrow(/more bytes than the 4 announced/);
    await service.call('traces.upload', { importId, offset: 0, data: 'YWI=' });
    await expect(service.call('traces.import', { importId })).rejects.toThrow(/has 2 of the 4 bytes/);
    for (const bad of ['../x', 'imp-zz', '/tmp/imp-0000000000000000'])
      await expect(service.call('traces.import', { importId: bad })).rejects.toMatchObject({ code: 'bad-request' });
    await expect(service.call('traces.cancel', { importId: 'imp-0000000000000000' })).rejects.toMatchObject({ code: 'not-found' });
    const wire = await service.handleRequest(JSON.stringify({ id: 7, method: 'traces.begin', params: { fileName: 'x.txt', sizeBytes: -1 } }));
    expect(wire).toMatchObject({ id: 7, ok: false, error: { code: 'bad-request' } });
    expect(ApiError).toBeDefined();
  });

  it('at most 4 imports at once; an abandoned upload is cancelled after a while and frees its slot', async () => {
    const { TraceImports, STALE_UPLOAD_MS, MAX_ACTIVE_IMPORTS } = await import('./traceImports.ts');
    const seen: TraceImportStatus[] = [];
    const t = new TraceImports({ sessionsDir: service.sessionsDir, emit: (st) => seen.push(st), onSession: () => undefined });
    const t0 = Date.now();
    const ids = Array.from({ length: MAX_ACTIVE_IMPORTS }, (_, i) => t.begin(`a${i}.txt`, 10, t0).importId);
    expect(() => t.begin('one-more.txt', 10, t0)).toThrow(/4 trace imports are already under way/);
    const fresh = t.begin('later.txt', 10, t0 + STALE_UPLOAD_MS + 1);
    expect(fresh.state).toBe('uploading');
    for (const id of ids) expect(t.status(id).state).toBe('cancelled');
    expect(seen.filter((st) => st.state === 'cancelled').map((st) => st.message)).toEqual(ids.map((_, i) => `upload of a${i}.txt abandoned; nothing kept`));
    t.close();
    expect(readdirSync(join(service.sessionsDir, '.imports'))).toEqual([]);
  });

  it('the session is named from the file name only, inside the sessions folder', async () => {
    const importId = await upload(readFileSync(join(FIXTURES, 'ftrace-kvm-msr-with-header.txt')), '../../../tmp/evil name;rm.txt');
    await service.call('traces.import', { importId });
    const end = await ended(importId);
    expect(end.sessionId).toBe('evil name-rm.mmulab');
    expect(existsSync(join(service.sessionsDir, 'evil name-rm.mmulab'))).toBe(true);
  });
});
