// A file without summaries (an older file, a killed recording) builds them inside the first long
// density, timeline or breakdown query: through the host service, in process, that build reports
// its progress under the query's id, stops at `queries.cancel` (no further progress; a later query
// is still exact), and the answers equal those of the same recording with its SUMM chunk and the
// counts of its JSONL export.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { EventMessage } from '../api/contract.ts';
import { exportJsonl } from '../../sessions/export.ts';
import { crc32 } from '../../sessions/format.ts';
import { recordBuiltin } from '../../sessions/testing/recordBuiltin.ts';
import { HostService } from './hostService.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-lazysumm-'));
const service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'browser', version: '0.0.0' });
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The same bytes with the SUMM chunk's type one the reader does not know (its checksum redone), as summaries.test.ts makes an older file. */
function withoutSummaries(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let off = 16; off + 8 <= out.length; off += 16 + out.readUInt32LE(off + 4)) {
    if (out.toString('latin1', off, off + 4) !== 'SUMM') continue;
    const length = out.readUInt32LE(off + 4);
    out.write('XSUM', off, 'latin1');
    out.writeUInt32LE(crc32(out.subarray(off, off + 8 + length)), off + 8 + length);
    return out;
  }
  throw new Error('the recording has no SUMM chunk');
}

interface Progress {
  queryId: string;
  fraction: number;
}

it('builds a lane summary in steps with progress, stops at a cancel, and counts exactly', async () => {
  // kbuild-zap in 64-event chunks: about 15 600 events, some 250 chunks over 2 vCPUs' lanes
  const path = join(service.sessionsDir, 'new.mmulab');
  const s = recordBuiltin(path, 'kbuild-zap', { chunkEvents: 64 });
  const old = withoutSummaries(readFileSync(path));
  writeFileSync(join(service.sessionsDir, 'old.mmulab'), old);
  copyFileSync(join(service.sessionsDir, 'old.mmulab'), join(service.sessionsDir, 'old2.mmulab'));
  copyFileSync(join(service.sessionsDir, 'old.mmulab'), join(service.sessionsDir, 'old3.mmulab'));
  const t0 = s.startNs;
  const t1 = s.endNs + 1;

  // the export's own counts: events by type, exits by reason
  let text = '';
  exportJsonl(s, (t) => (text += t));
  const byType: Record<string, number> = {};
  const byReason: Record<string, number> = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const e = JSON.parse(line) as { type: string; reason?: string };
    byType[e.type] = (byType[e.type] ?? 0) + 1;
    if (e.type === 'vmexit') byReason[e.reason!] = (byReason[e.reason!] ?? 0) + 1;
  }

  const progress: Progress[] = [];
  const off = service.onEvent((m: EventMessage) => {
    if (m.event !== 'queries.progress') return;
    const p = m.payload as Progress;
    progress.push(p);
    if (p.queryId === 'q-dens1') void service.call('queries.cancel', { queryId: 'q-dens1' });
  });
  const of = (q: string) => progress.filter((p) => p.queryId === q).map((p) => p.fraction);

  // a density over the whole run, cancelled at its first report: no further step runs
  await expect(service.call('sessions.density', { id: 'old.mmulab', t0, t1, buckets: 400, queryId: 'q-dens1' })).rejects.toThrow(/cancelled/);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(of('q-dens1').length).toBe(1);
  expect(of('q-dens1')[0]).toBeLessThan(1);

  // again: it builds on (reporting < 1 on the way) and answers as the file with its summaries does
  const want = await service.call('sessions.density', { id: 'new.mmulab', t0, t1, buckets: 400 });
  expect(of('q-dens2')).toEqual([]);
  const density = await service.call('sessions.density', { id: 'old.mmulab', t0, t1, buckets: 400, queryId: 'q-dens2' });
  expect(density).toEqual(want);
  expect(of('q-dens2').length).toBeGreaterThan(0);
  expect(of('q-dens2').every((f) => f < 1)).toBe(true);
  let densityEvents = 0;
  for (const lane of density.lanes) densityEvents += lane.events;
  expect(densityEvents).toBe(s.eventCount);
  // built: the next query over the run has nothing to build, nothing to report
  expect(await service.call('sessions.timeline', { id: 'old.mmulab', t0, t1, buckets: 300, queryId: 'q-tl1' })).toEqual(
    await service.call('sessions.timeline', { id: 'new.mmulab', t0, t1, buckets: 300 }),
  );
  expect(of('q-tl1')).toEqual([]);

  // the breakdown of the whole run on the other copy: its build reports rising progress, then it counts as the export does
  const counters = await service.call('sessions.counters', { id: 'old2.mmulab', t0, t1, queryId: 'q-br1' });
  off();
  const fractions = of('q-br1');
  expect(fractions.length).toBeGreaterThan(0);
  expect(fractions[0]).toBeLessThan(1);
  expect([...fractions].sort((a, b) => a - b)).toEqual(fractions);
  expect(counters).toEqual(await service.call('sessions.counters', { id: 'new.mmulab', t0, t1 }));
  expect(counters.events).toBe(s.eventCount);
  expect({ ...counters.eventsByType }).toEqual(byType);
  expect(Object.fromEntries(counters.byReason.map((r) => [r.key, r.count]))).toEqual(byReason);

  // a timeline and its density at once (as the timeline view asks) share one build, both exact
  const [tl, dens] = await Promise.all([
    service.call('sessions.timeline', { id: 'old3.mmulab', t0, t1, buckets: 300, queryId: 'q-tl2' }),
    service.call('sessions.density', { id: 'old3.mmulab', t0, t1, buckets: 400, queryId: 'q-dens3' }),
  ]);
  expect(tl).toEqual(await service.call('sessions.timeline', { id: 'new.mmulab', t0, t1, buckets: 300 }));
  expect(dens).toEqual(want);
});
