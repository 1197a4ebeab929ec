/**
 * The host's sessions folder: session ids (file names, never paths) to paths inside it, the
 * list, new names for runs, session files brought in from elsewhere, the exports folder beside
 * it, and a watch for files others add or remove.
 */
import { constants, copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ApiError, sessionId as sessionIdSchema, type ApiResult } from '../api/contract.ts';
import { openSession } from '../../sessions/reader.ts';
import { freeSessionName, sessionStem } from '../../sessions/sessionNames.ts';

export class SessionsFolder {
  /** The folder's real path (symlinks resolved). */
  readonly dir: string;
  private watcher?: FSWatcher;
  private changedTimer?: NodeJS.Timeout;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.dir = realpathSync(resolve(dir));
  }

  /** Where exports are written: a folder beside the sessions (never listed as a session). */
  get exportsDir(): string {
    return join(this.dir, '.exports');
  }

  /** Map a session id (a validated file name) to its path, refusing anything outside the folder. */
  path(id: string): string {
    const ok = sessionIdSchema.safeParse(id);
    if (!ok.success) throw new ApiError('bad-session', `"${id.slice(0, 100)}" is not a session id: ${ok.error.issues[0]?.message ?? 'invalid'}`);
    const path = resolve(this.dir, id);
    const rel = relative(this.dir, path);
    if (!rel || rel.startsWith('..') || isAbsolute(rel) || rel.includes(sep)) {
      throw new ApiError('bad-session', `"${id}" is not inside the sessions folder`);
    }
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw new ApiError('not-found', `no session "${id}"`);
    }
    const realRel = relative(this.dir, real);
    if (realRel.startsWith('..') || isAbsolute(realRel)) throw new ApiError('bad-session', `"${id}" points outside the sessions folder`);
    return real;
  }

  /** The session files in the folder, newest first. */
  list(): ApiResult<'sessions.list'> {
    const items = [];
    for (const entry of readdirSync(this.dir, { withFileTypes: true })) {
      if (!entry.isFile() || !sessionIdSchema.safeParse(entry.name).success) continue;
      try {
        const st = statSync(join(this.dir, entry.name));
        items.push({ id: entry.name, name: entry.name.replace(/\.mmulab$/, ''), sizeBytes: st.size, modifiedMs: st.mtimeMs });
      } catch {
        // vanished between readdir and stat
      }
    }
    return items.sort((a, b) => b.modifiedMs - a.modifiedMs);
  }

  /** A free session id for a new run of a scenario: its name and the time. */
  newId(scenarioName: string): string {
    const slug = scenarioName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 80) || 'run';
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 23);
    for (let n = 0; ; n++) {
      const id = `${slug}-${stamp}${n ? `-${n}` : ''}.mmulab`;
      // a run still recording holds `<id>.part` (recorder.ts): that name is taken too
      if (!existsSync(join(this.dir, id)) && !existsSync(join(this.dir, `${id}.part`))) return id;
    }
  }

  /**
   * Bring a session file from anywhere into the folder: a file already in the folder is used
   * where it is; another is checked with the reader first, then copied under a free name.
   * `copied` says whether the folder gained a file.
   */
  bringIn(path: string): { id: string; copied: boolean } {
    const source = resolve(path);
    if (!source.toLowerCase().endsWith('.mmulab')) throw new ApiError('bad-session', `${basename(source)} is not a .mmulab session file`);
    let real: string;
    try {
      real = realpathSync(source);
      if (!statSync(real).isFile()) throw new Error('not a file');
    } catch {
      throw new ApiError('not-found', `cannot read ${source}`);
    }
    if (dirname(real) === this.dir && sessionIdSchema.safeParse(basename(real)).success) return { id: basename(real), copied: false };
    const { session, diagnostics } = openSession(real);
    if (!session) {
      const first = diagnostics.find((d) => d.severity === 'error') ?? diagnostics[0];
      throw new ApiError('bad-session', `${basename(real)} is not a readable session${first ? `: ${first.message}` : ''}`);
    }
    // the real file's name, symlinks followed: only a `.mmulab` ending is dropped
    const id = freeSessionName(this.dir, sessionStem(basename(real).replace(/\.mmulab$/i, '')));
    copyFileSync(real, join(this.dir, id), constants.COPYFILE_EXCL);
    return { id, copied: true };
  }

  /** The path of an export by its id (a file name in the exports folder), or undefined. */
  exportPath(exportId: string): string | undefined {
    if (!/^[A-Za-z0-9][A-Za-z0-9._ -]*$/.test(exportId) || exportId.length > 250) return undefined;
    const path = join(this.exportsDir, exportId);
    return existsSync(path) ? path : undefined;
  }

  /** Files added or removed by others (the CLI, a file manager): `changed` at most every 250 ms. */
  watch(changed: () => void): void {
    try {
      this.watcher = watch(this.dir, { persistent: false }, (_type, name) => {
        if (name && !String(name).endsWith('.mmulab')) return;
        if (this.changedTimer) return;
        this.changedTimer = setTimeout(() => {
          this.changedTimer = undefined;
          changed();
        }, 250);
        this.changedTimer.unref();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // watching is a convenience; the list is still right when asked
    }
  }

  /** Stop watching. */
  close(): void {
    this.watcher?.close();
    if (this.changedTimer) clearTimeout(this.changedTimer);
  }
}
