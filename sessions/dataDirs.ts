/**
 * Where MMU Lab keeps the user's data, one definition for the CLI, the browser host and the
 * desktop app, so a session recorded with `mmu-lab record` shows in the app (issue 19 §3).
 *
 *   Linux (XDG Base Directory spec): sessions in $XDG_DATA_HOME/mmu-lab (~/.local/share/mmu-lab),
 *     settings and recent files in $XDG_CONFIG_HOME/mmu-lab (~/.config/mmu-lab).
 *   macOS: both in ~/Library/Application Support/MMU Lab.
 *   Windows: sessions in %LOCALAPPDATA%\MMU Lab, settings in %APPDATA%\MMU Lab (roaming).
 *   $MMU_LAB_HOME: everything under that one folder instead (a course's shared disk, tests).
 *   $MMU_LAB_SESSIONS_DIR still moves the sessions folder alone, as in 0.1.0.
 *
 * Imported traces become sessions in the sessions folder (uploads in progress sit in its
 * `.imports` folder). 0.1.0 kept sessions in ~/.mmu-lab/sessions (browser host) or Electron's
 * profile folder (desktop app); adoptLegacyData() moves them over once.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { freeSessionName, sessionStem } from './sessionNames.ts';

export const HOME_ENV = 'MMU_LAB_HOME';
export const SESSIONS_ENV = 'MMU_LAB_SESSIONS_DIR';
/** The folder name on Linux (lower case, as XDG folders are) and elsewhere (the product name). */
const LINUX_NAME = 'mmu-lab';
const PRODUCT_NAME = 'MMU Lab';

export type Env = Record<string, string | undefined>;

export interface DataDirs {
  /** What decided the folders, for `mmu-lab where`. */
  origin: string;
  /** Recorded and imported sessions. */
  sessions: string;
  /** Settings: recent files, window state (one JSON file each). */
  config: string;
  recentFile: string;
  windowStateFile: string;
}

export interface Platform {
  env: Env;
  platform: NodeJS.Platform;
  home: string;
}

export function currentPlatform(): Platform {
  return { env: process.env, platform: process.platform, home: homedir() };
}

/** An XDG variable counts only when it is an absolute path (the spec says to ignore others). */
function xdg(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value && isAbsolute(value) ? value : fallback;
}

/** $XDG_DATA_HOME, or its default ~/.local/share (where a user's desktop entries, MIME types and icons go). */
export function xdgDataHome(p: Platform = currentPlatform()): string {
  return xdg(p.env, 'XDG_DATA_HOME', join(p.home, '.local', 'share'));
}

function withFiles(origin: string, sessions: string, config: string): DataDirs {
  return { origin, sessions, config, recentFile: join(config, 'recent.json'), windowStateFile: join(config, 'window-state.json') };
}

export function dataDirs(p: Platform = currentPlatform()): DataDirs {
  const { env, platform, home } = p;
  let dirs: DataDirs;
  const base = env[HOME_ENV];
  if (base && base.trim()) {
    const root = isAbsolute(base) ? base : join(process.cwd(), base);
    dirs = withFiles(`$${HOME_ENV}`, join(root, 'sessions'), root);
  } else if (platform === 'darwin') {
    const root = join(home, 'Library', 'Application Support', PRODUCT_NAME);
    dirs = withFiles('macOS Application Support', join(root, 'sessions'), root);
  } else if (platform === 'win32') {
    const local = env.LOCALAPPDATA || join(home, 'AppData', 'Local');
    const roaming = env.APPDATA || join(home, 'AppData', 'Roaming');
    dirs = withFiles('Windows %LOCALAPPDATA% and %APPDATA%', join(local, PRODUCT_NAME, 'sessions'), join(roaming, PRODUCT_NAME));
  } else {
    const data = xdgDataHome(p);
    const config = xdg(env, 'XDG_CONFIG_HOME', join(home, '.config'));
    dirs = withFiles('XDG base directories', join(data, LINUX_NAME, 'sessions'), join(config, LINUX_NAME));
  }
  const sessionsOverride = env[SESSIONS_ENV];
  if (sessionsOverride && sessionsOverride.trim()) {
    dirs = { ...dirs, sessions: isAbsolute(sessionsOverride) ? sessionsOverride : join(process.cwd(), sessionsOverride), origin: `${dirs.origin}; sessions from $${SESSIONS_ENV}` };
  }
  return dirs;
}

/** Electron's default profile folder (its `userData`), where the 0.1.0 desktop app kept everything. */
export function electronProfileDir(p: Platform = currentPlatform()): string {
  const { env, platform, home } = p;
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', PRODUCT_NAME);
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), PRODUCT_NAME);
  return join(xdg(env, 'XDG_CONFIG_HOME', join(home, '.config')), PRODUCT_NAME);
}

/** Where 0.1.0 kept sessions and settings. */
export function legacyDirs(p: Platform = currentPlatform()): { sessions: string[]; config: string } {
  const profile = electronProfileDir(p);
  return { sessions: [join(p.home, '.mmu-lab', 'sessions'), join(profile, 'sessions')], config: profile };
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Bring 0.1.0's data to the folders of this version, once: each legacy session is moved into
 * the sessions folder unless one of that name is there already (then it stays where it was),
 * and the settings files are copied when this version has none yet. Nothing is overwritten or
 * deleted. With $MMU_LAB_HOME or $MMU_LAB_SESSIONS_DIR set, the user chose the folders: nothing
 * is adopted. Returns one line per thing done, for the caller to print.
 */
export function adoptLegacyData(p: Platform = currentPlatform(), dirs: DataDirs = dataDirs(p)): string[] {
  if (p.env[HOME_ENV] || p.env[SESSIONS_ENV]) return [];
  const legacy = legacyDirs(p);
  const done: string[] = [];
  for (const from of legacy.sessions) {
    if (from === dirs.sessions || !isDir(from)) continue;
    const names = readdirSync(from).filter((n) => n.toLowerCase().endsWith('.mmulab'));
    let moved = 0;
    for (const name of names) {
      const target = join(dirs.sessions, name);
      if (existsSync(target)) continue;
      mkdirSync(dirs.sessions, { recursive: true });
      try {
        renameSync(join(from, name), target);
      } catch (error) {
        if ((error as { code?: string }).code !== 'EXDEV') continue;
        copyFileSync(join(from, name), target); // another file system: copied, the original stays
      }
      moved++;
    }
    if (moved) done.push(`Moved ${moved} session${moved === 1 ? '' : 's'} of MMU Lab 0.1.0 from ${from} to ${dirs.sessions}.`);
  }
  if (legacy.config !== dirs.config) {
    for (const [name, target] of [
      ['recent.json', dirs.recentFile],
      ['window-state.json', dirs.windowStateFile],
    ] as const) {
      const from = join(legacy.config, name);
      if (existsSync(target) || !existsSync(from)) continue;
      mkdirSync(dirs.config, { recursive: true });
      if (name === 'recent.json') writeFileSync(target, JSON.stringify(movedRecent(readFileSync(from, 'utf8'), legacy.sessions, dirs.sessions)));
      else copyFileSync(from, target);
      done.push(`Copied the settings file ${from} of MMU Lab 0.1.0 to ${target}.`);
    }
  }
  return done;
}

/** The recent-files list with the entries that pointed into a legacy sessions folder pointing to where those sessions are now. */
function movedRecent(text: string, legacySessions: string[], sessions: string): unknown[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return []; // a damaged list: the app starts with none, as it would have
  }
  if (!Array.isArray(list)) return [];
  return list.map((entry) => {
    if (typeof entry !== 'string' || !legacySessions.includes(dirname(entry))) return entry;
    const moved = join(sessions, basename(entry));
    return existsSync(entry) || !existsSync(moved) ? entry : moved;
  });
}

/**
 * A path in the sessions folder for a new session named after `name`, not yet taken (the
 * folder is made, and 0.1.0's sessions are adopted first so a name never shadows one of them).
 */
export function newSessionPath(name: string, p: Platform = currentPlatform()): string {
  const dirs = dataDirs(p);
  adoptLegacyData(p, dirs);
  mkdirSync(dirs.sessions, { recursive: true });
  return join(dirs.sessions, freeSessionName(dirs.sessions, sessionStem(name)));
}
