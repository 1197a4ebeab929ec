// Upgrading from 0.1.0 keeps the user's data (issue 19 §5): the sessions of both hosts and the
// settings files 0.1.0 wrote (electron/main/fixtures/release-0.1.0) end up in this version's
// folders, open, and read back as they were; nothing is overwritten, and a second start does
// nothing more.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { adoptLegacyData, dataDirs, type Platform } from '../../sessions/dataDirs.ts';
import { openSession } from '../../sessions/reader.ts';
import { parseRecentList } from './recentFiles.ts';
import { placeWindow } from './windowState.ts';

const fixture = fileURLToPath(new URL('./fixtures/release-0.1.0/home/', import.meta.url));
const v1 = fileURLToPath(new URL('../../sessions/fixtures/v1/', import.meta.url));
let home: string | undefined;
afterEach(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

/** A home folder as 0.1.0 left it. */
function oldHome(): Platform {
  home = mkdtempSync(join(tmpdir(), 'mmulab-home-'));
  cpSync(fixture, home, { recursive: true });
  const recent = join(home, '.config', 'MMU Lab', 'recent.json');
  writeFileSync(recent, readFileSync(recent, 'utf8').replaceAll('@HOME@', home));
  mkdirSync(join(home, '.config', 'MMU Lab', 'sessions'), { recursive: true });
  mkdirSync(join(home, '.mmu-lab', 'sessions'), { recursive: true });
  copyFileSync(join(v1, 'script-basic.mmulab'), join(home, '.config', 'MMU Lab', 'sessions', 'script-basic.mmulab'));
  copyFileSync(join(v1, 'multi-vcpu.mmulab'), join(home, '.mmu-lab', 'sessions', 'multi-vcpu.mmulab'));
  return { env: {}, platform: 'linux', home };
}

describe('upgrading from 0.1.0', () => {
  it('moves both hosts’ sessions into the sessions folder, where they open', () => {
    const p = oldHome();
    const dirs = dataDirs(p);
    const lines = adoptLegacyData(p, dirs);
    expect(lines.filter((l) => l.startsWith('Moved 1 session'))).toHaveLength(2);
    expect(readdirSync(dirs.sessions).sort()).toEqual(['multi-vcpu.mmulab', 'script-basic.mmulab']);
    for (const name of readdirSync(dirs.sessions)) {
      const { session, diagnostics } = openSession(join(dirs.sessions, name));
      expect(session, name).toBeDefined();
      expect(diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    }
    expect(readdirSync(join(home!, '.mmu-lab', 'sessions'))).toEqual([]);
  });

  it('keeps the recent files (pointing to where the sessions are now) and the window place', () => {
    const p = oldHome();
    const dirs = dataDirs(p);
    adoptLegacyData(p, dirs);
    expect(parseRecentList(readFileSync(dirs.recentFile, 'utf8'))).toEqual([
      join(dirs.sessions, 'script-basic.mmulab'),
      join(dirs.sessions, 'multi-vcpu.mmulab'),
      '/elsewhere/notes/run.mmulab',
    ]);
    const display = { x: 0, y: 0, width: 1920, height: 1080 };
    const saved = JSON.parse(readFileSync(dirs.windowStateFile, 'utf8')) as unknown;
    const placed = placeWindow(saved, [display]);
    expect(placed).toMatchObject({ x: 120, y: 64, width: 1500, height: 940 });
    expect(placed.maximized ?? false).toBe(false);
  });

  it('overwrites nothing, and a second start does nothing', () => {
    const p = oldHome();
    const dirs = dataDirs(p);
    mkdirSync(dirs.sessions, { recursive: true });
    writeFileSync(join(dirs.sessions, 'script-basic.mmulab'), 'newer');
    mkdirSync(dirs.config, { recursive: true });
    writeFileSync(dirs.windowStateFile, '{"width":800,"height":600}');
    adoptLegacyData(p, dirs);
    expect(readFileSync(join(dirs.sessions, 'script-basic.mmulab'), 'utf8')).toBe('newer');
    expect(existsSync(join(home!, '.config', 'MMU Lab', 'sessions', 'script-basic.mmulab'))).toBe(true); // left where it was
    expect(readFileSync(dirs.windowStateFile, 'utf8')).toBe('{"width":800,"height":600}');
    expect(adoptLegacyData(p, dirs)).toEqual([]);
  });

  it('adopts nothing when the user chose the folders (MMU_LAB_HOME)', () => {
    const p = { ...oldHome(), env: { MMU_LAB_HOME: join(home!, 'lab') } };
    expect(adoptLegacyData(p)).toEqual([]);
    expect(existsSync(join(home!, 'lab'))).toBe(false);
  });
});
