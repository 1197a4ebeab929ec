// A session large enough that a scan of it takes many steps of a host query: kbuild-zap with 800
// processes (on 2 vCPUs unless told), about 640 000 events in some 160 chunks, recorded with the real CLI.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mmuLab } from './fixtures';

export const LARGE_ID = 'kbuild-large.mmulab';

export function recordLarge(sessionsDir: string, vcpus = 2): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-big-'));
  const scenario = join(dir, 'kbuild-large.json');
  writeFileSync(
    scenario,
    JSON.stringify({
      name: 'kbuild-large',
      seed: 1,
      hardware: { profile: 'vtx-2007' },
      vms: [{ vcpus, memoryMiB: 64, guest: { paging: 'long4', workload: { kind: 'kbuild', processes: 800, pages: 24 } }, mmu: { mode: 'shadow', shadow: { onGuestPteWrite: 'zap' } } }],
    }),
  );
  const file = join(sessionsDir, LARGE_ID);
  mmuLab(['record', scenario, '-o', file, '-q']);
  return file;
}

/**
 * Every `queries.progress` the host pushes to the page, the `queries.cancel` requests the page
 * sends and their answers, and the answers to the queries themselves (any request carrying a
 * `queryId`), each stamped with when it crossed the page's socket.
 */
export function watchQueries(page: import('@playwright/test').Page) {
  const progress: { queryId: string; fraction: number; matches?: number; at: number }[] = [];
  const cancels = new Map<number, string>();
  const queries = new Map<number, { queryId: string; method: string }>();
  const cancelsSent: { queryId: string; at: number }[] = [];
  const cancelAnswers: { queryId: string; cancelled: boolean; at: number }[] = [];
  const queryAnswers: { queryId: string; method: string; ok: boolean; at: number }[] = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      const m = JSON.parse(String(f.payload)) as { id?: number; method?: string; params?: { queryId?: string } };
      if (m.id === undefined || !m.method || m.params?.queryId === undefined) return;
      if (m.method === 'queries.cancel') {
        cancels.set(m.id, m.params.queryId);
        cancelsSent.push({ queryId: m.params.queryId, at: Date.now() });
      } else queries.set(m.id, { queryId: m.params.queryId, method: m.method });
    });
    ws.on('framereceived', (f) => {
      const m = JSON.parse(String(f.payload)) as { id?: number; ok?: boolean; event?: string; payload?: { queryId: string; fraction: number; matches?: number }; result?: { cancelled: boolean } };
      if (m.event === 'queries.progress' && m.payload) progress.push({ ...m.payload, at: Date.now() });
      if (m.id !== undefined && cancels.has(m.id) && m.result) cancelAnswers.push({ queryId: cancels.get(m.id)!, cancelled: m.result.cancelled, at: Date.now() });
      const query = m.id !== undefined ? queries.get(m.id) : undefined;
      if (query) queryAnswers.push({ ...query, ok: m.ok === true, at: Date.now() });
    });
  });
  return { progress, cancelsSent, cancelAnswers, queryAnswers };
}
