// The data folders of issue 19 §3, against the platforms' own conventions: the XDG Base
// Directory spec (defaults ~/.local/share and ~/.config, absolute $XDG_* only), Apple's
// ~/Library/Application Support, and Windows' %LOCALAPPDATA% / %APPDATA%.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataDirs, electronProfileDir, legacyDirs } from './dataDirs.ts';

const home = '/home/student';

describe('dataDirs', () => {
  it('Linux: XDG defaults', () => {
    const d = dataDirs({ env: {}, platform: 'linux', home });
    expect(d.sessions).toBe('/home/student/.local/share/mmu-lab/sessions');
    expect(d.config).toBe('/home/student/.config/mmu-lab');
    expect(d.recentFile).toBe('/home/student/.config/mmu-lab/recent.json');
    expect(d.windowStateFile).toBe('/home/student/.config/mmu-lab/window-state.json');
  });

  it('Linux: absolute XDG_DATA_HOME and XDG_CONFIG_HOME are used, relative ones ignored as the spec says', () => {
    expect(dataDirs({ env: { XDG_DATA_HOME: '/data', XDG_CONFIG_HOME: '/conf' }, platform: 'linux', home })).toMatchObject({
      sessions: '/data/mmu-lab/sessions',
      config: '/conf/mmu-lab',
    });
    expect(dataDirs({ env: { XDG_DATA_HOME: 'rel/data', XDG_CONFIG_HOME: '' }, platform: 'linux', home })).toMatchObject({
      sessions: '/home/student/.local/share/mmu-lab/sessions',
      config: '/home/student/.config/mmu-lab',
    });
  });

  it('macOS: Application Support; Windows: LOCALAPPDATA for sessions, APPDATA (roaming) for settings', () => {
    expect(dataDirs({ env: {}, platform: 'darwin', home: '/Users/s' })).toMatchObject({
      sessions: '/Users/s/Library/Application Support/MMU Lab/sessions',
      config: '/Users/s/Library/Application Support/MMU Lab',
    });
    const win = dataDirs({ env: { LOCALAPPDATA: 'C:/Users/s/AppData/Local', APPDATA: 'C:/Users/s/AppData/Roaming' }, platform: 'win32', home: 'C:/Users/s' });
    expect(win.sessions).toBe(join('C:/Users/s/AppData/Local', 'MMU Lab', 'sessions'));
    expect(win.config).toBe(join('C:/Users/s/AppData/Roaming', 'MMU Lab'));
  });

  it('MMU_LAB_HOME puts everything in one folder on every platform; MMU_LAB_SESSIONS_DIR moves the sessions alone', () => {
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      expect(dataDirs({ env: { MMU_LAB_HOME: '/srv/lab', XDG_DATA_HOME: '/data' }, platform, home })).toMatchObject({
        sessions: '/srv/lab/sessions',
        config: '/srv/lab',
        origin: '$MMU_LAB_HOME',
      });
    }
    expect(dataDirs({ env: { MMU_LAB_SESSIONS_DIR: '/tmp/s' }, platform: 'linux', home })).toMatchObject({ sessions: '/tmp/s', config: '/home/student/.config/mmu-lab' });
  });

  it("0.1.0's folders: ~/.mmu-lab/sessions (browser host) and Electron's profile (desktop app)", () => {
    expect(electronProfileDir({ env: {}, platform: 'linux', home })).toBe('/home/student/.config/MMU Lab');
    expect(legacyDirs({ env: {}, platform: 'linux', home })).toEqual({
      sessions: ['/home/student/.mmu-lab/sessions', '/home/student/.config/MMU Lab/sessions'],
      config: '/home/student/.config/MMU Lab',
    });
  });
});
