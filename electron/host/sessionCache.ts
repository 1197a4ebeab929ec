/**
 * Open session readers, cached by path and invalidated when the file changes (a session that
 * is still being recorded grows). A small LRU: readers hold indexes, not whole files.
 */
import { statSync } from 'node:fs';
import { ApiError, type SessionSummary, type TimelineResult } from '../api/contract.ts';
import { openSession, type Diagnostic, type SessionReader } from '../../sessions/reader.ts';

interface Entry {
  size: number;
  mtimeMs: number;
  session: SessionReader;
  /** The reader's own list: it grows when damage is found in a chunk read after opening. */
  diagnostics: Diagnostic[];
  /** How many of them the UI has been given (by a summary or a `sessions.diagnostics` event). */
  told: number;
}

/** Diagnostics as the API carries them. */
function apiDiagnostics(list: Diagnostic[]): SessionSummary['diagnostics'] {
  return list.map((d) => ({ severity: d.severity, code: d.code, message: d.message, ...(d.byteOffset !== undefined ? { byteOffset: d.byteOffset } : {}) }));
}

const MAX_OPEN = 8;

export class SessionCache {
  private readonly open = new Map<string, Entry>();

  clear(): void {
    this.open.clear();
  }

  get(path: string): Entry {
    let st;
    try {
      st = statSync(path);
    } catch {
      throw new ApiError('not-found', 'the session file is gone');
    }
    const cached = this.open.get(path);
    if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) {
      this.open.delete(path);
      this.open.set(path, cached); // most recently used last
      return cached;
    }
    const { session, diagnostics } = openSession(path);
    if (!session) {
      const first = diagnostics.find((d) => d.severity === 'error') ?? diagnostics[0];
      throw new ApiError('bad-session', first ? first.message : 'the file is not a readable session');
    }
    const entry: Entry = { size: st.size, mtimeMs: st.mtimeMs, session, diagnostics, told: 0 };
    this.open.set(path, entry);
    while (this.open.size > MAX_OPEN) {
      const oldest = this.open.keys().next().value;
      if (oldest === undefined) break;
      this.open.delete(oldest);
    }
    return entry;
  }

  /** The whole diagnostics list of an open session if it grew since the UI was last told; else undefined. */
  newDiagnostics(path: string): SessionSummary['diagnostics'] | undefined {
    const entry = this.open.get(path);
    if (!entry || entry.diagnostics.length <= entry.told) return undefined;
    entry.told = entry.diagnostics.length;
    return apiDiagnostics(entry.diagnostics);
  }

  summary(id: string, path: string): SessionSummary {
    const entry = this.get(path);
    const { session, diagnostics } = entry;
    const s = session.summary();
    entry.told = diagnostics.length;
    return {
      scenarioName: s.scenarioName,
      complete: s.complete,
      vms: s.vms,
      vcpus: s.vcpus,
      events: s.events,
      startNs: s.startNs,
      endNs: s.endNs,
      eventsByType: s.eventsByType,
      exitsByReason: s.exitsByReason,
      ...(s.completeness ? { completeness: s.completeness } : {}),
      ...(s.traceNotes ? { traceNotes: s.traceNotes } : {}),
      id,
      name: id.replace(/\.mmulab$/, ''),
      diagnostics: apiDiagnostics(diagnostics),
    };
  }

  events(path: string, from: number, count: number, types?: string[]): { total: number; events: Record<string, string | number>[] } {
    const { session } = this.get(path);
    return session.events(from, count, types);
  }

  timeline(path: string, t0: number, t1: number, buckets: number): TimelineResult {
    const { session } = this.get(path);
    return session.timeline(t0, t1, buckets);
  }
}
