// The event search through the host service, in process: a count with a queryId reports its
// partial matches, stops at `queries.cancel`, and the same filter again resumes the kept scan and
// ends exact (the lines of the JSONL export holding the text); Next and Previous agree with them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { EventMessage } from '../api/contract.ts';
import { exportJsonl } from '../../sessions/export.ts';
import { recordBuiltin } from '../../sessions/testing/recordBuiltin.ts';
import { HostService } from './hostService.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-searches-'));
const service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'browser', version: '0.0.0' });
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

it('counts in steps with partial matches, cancels, resumes, and finds', async () => {
  // kbuild-zap: about 15 600 events, a count of two 8192-event steps.
  const session = recordBuiltin(join(service.sessionsDir, 'kz.mmulab'), 'kbuild-zap');
  let text = '';
  exportJsonl(session, (t) => (text += t));
  const want = text
    .split('\n')
    .filter(Boolean)
    .flatMap((l, i) => (l.toLowerCase().includes('0x1') ? [i] : []));
  expect(want.length).toBeGreaterThan(100);

  const progress: { queryId: string; fraction: number; matches?: number; before?: number }[] = [];
  const off = service.onEvent((m: EventMessage) => {
    if (m.event !== 'queries.progress') return;
    const p = m.payload as { queryId: string; fraction: number; matches?: number; before?: number };
    progress.push(p);
    if (p.queryId === 'q-count1') void service.call('queries.cancel', { queryId: 'q-count1' });
  });
  const filter = { text: '0x1' };
  await expect(service.call('sessions.searchCount', { id: 'kz.mmulab', filter, at: -1, queryId: 'q-count1' })).rejects.toThrow(/cancelled/);
  expect(progress.length).toBe(1);
  expect(progress[0]!.fraction).toBeLessThan(1);
  expect(progress[0]!.matches).toBe(want.filter((i) => i < 8192).length);
  expect(progress[0]!.before).toBe(0); // matches at or before event -1: read past it, exact

  // Again: it reads on from where the cancelled count stopped, and ends exact.
  const done = await service.call('sessions.searchCount', { id: 'kz.mmulab', filter, at: want[9]!, queryId: 'q-count2' });
  off();
  expect(done).toEqual({ total: want.length, before: 10 });
  const resumed = progress.filter((p) => p.queryId === 'q-count2');
  expect(resumed.length).toBeGreaterThan(0);
  expect(resumed.every((p) => p.fraction > progress[0]!.fraction)).toBe(true);
  const next = await service.call('sessions.search', { id: 'kz.mmulab', filter, from: want[9]!, dir: 1 });
  expect(next.index).toBe(want[10]);
  expect(String(JSON.stringify(next.event)).toLowerCase()).toContain('0x1');
  expect((await service.call('sessions.search', { id: 'kz.mmulab', filter, from: want[0]!, dir: -1 })).index).toBeNull();
});
