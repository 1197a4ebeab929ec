/**
 * The keyframe passes the host runs in the background after a recording closes (recorder.ts
 * `addKeyframes`). A host that shuts down cuts them short so shutdown never waits for a replay,
 * and notes the sessions it cut in `<sessions>/.keyframes-pending.json`; the next host to start
 * finishes them (a pass appends only the keyframes after the last one written).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { addKeyframes } from './recorder.ts';

export const PENDING_FILE = '.keyframes-pending.json';

interface Job {
  path: string;
  abort: AbortController;
  done: Promise<number>;
}

export class KeyframeJobs {
  private readonly jobs = new Map<string, Job>();
  private closed = false;

  constructor(private readonly sessionsDir: string) {}

  private get pendingPath(): string {
    return join(this.sessionsDir, PENDING_FILE);
  }

  /** Start the pass of the session at `path` under `key` (a run id); one per key at a time. */
  start(key: string, path: string): Promise<number> {
    const running = this.jobs.get(key);
    if (running) return running.done;
    const abort = new AbortController();
    const done = addKeyframes(path, abort.signal).finally(() => this.jobs.delete(key));
    this.jobs.set(key, { path, abort, done });
    return done;
  }

  /** Finish the pass of a session that was cut short (keyed by its path, so never twice at once). */
  resume(path: string): Promise<number> {
    return this.start(`resume:${path}`, path);
  }

  /** Resolves when the pass under `key` has ended (at once when there is none). */
  async settled(key: string): Promise<number> {
    return (await this.jobs.get(key)?.done) ?? 0;
  }

  /** Finish the passes an earlier host noted as cut (in the background). */
  resumePending(): void {
    if (!existsSync(this.pendingPath)) return;
    let names: unknown;
    try {
      names = JSON.parse(readFileSync(this.pendingPath, 'utf8'));
    } catch {
      names = [];
    }
    rmSync(this.pendingPath, { force: true });
    if (!Array.isArray(names)) return;
    for (const name of names) {
      // file names only, as this class wrote them: never a path from elsewhere
      if (typeof name === 'string' && name === basename(name) && name.endsWith('.mmulab')) {
        const path = join(this.sessionsDir, name);
        if (existsSync(path)) void this.resume(path);
      }
    }
  }

  /** Cut every pass short (each keeps the keyframes it made) and note them for the next host. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const jobs = [...this.jobs.values()];
    for (const j of jobs) j.abort.abort();
    await Promise.all(jobs.map((j) => j.done));
    const cut = [...new Set(jobs.map((j) => basename(j.path)))];
    if (!cut.length) return;
    try {
      writeFileSync(this.pendingPath, JSON.stringify(cut));
    } catch {
      // a read-only or full disk: those sessions keep the keyframes they have (the reader copes)
    }
  }
}
