// `mmu-lab install-desktop` (Linux): the checked desktop entry, MIME type and icon put where the
// XDG specs say a user's go, and the desktop's own tools then know the type, its icon and the app
// that opens it (shared-mime-info, desktop-file-utils, gio, xdg-mime).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { desktopEntry } from './desktopInstall.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'mmu-lab.js');
const temp = mkdtempSync(join(tmpdir(), 'mmulab-desktop-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const tools = ['desktop-file-validate', 'update-mime-database', 'update-desktop-database', 'gio', 'xdg-mime'];
const missing = tools.filter((t) => !have(t));

function cli(dataHome: string, ...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, XDG_DATA_HOME: dataHome } });
}

describe('the Exec line', () => {
  it.skipIf(!have('desktop-file-validate'))('quotes paths with spaces and reserved characters as the Desktop Entry spec asks, and still validates', () => {
    const template = readFileSync(join(root, 'build', 'linux', 'mmu-lab.desktop'), 'utf8');
    const entry = desktopEntry(template, '/opt/My Node/bin/node', '/home/a "b"/$lib/mmu-lab.js');
    // In the file: quotes around each, \" and \$ inside them, then every backslash doubled (the key file's escaping).
    expect(entry.split('\n')).toContain(String.raw`Exec="/opt/My Node/bin/node" "/home/a \\"b\\"/\\$lib/mmu-lab.js" serve --open %F`);
    const file = join(temp, 'quoted.desktop');
    writeFileSync(file, entry);
    const r = spawnSync('desktop-file-validate', [file], { encoding: 'utf8' });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('mmu-lab install-desktop', () => {
  it.skipIf(process.platform !== 'linux' || missing.length > 0)(`installs, is known to the desktop, and is removed again (needs ${tools.join(', ')})`, () => {
    const data = join(temp, 'share');
    const r = cli(data, 'install-desktop');
    expect(r.status, r.stderr).toBe(0);
    const entry = join(data, 'applications', 'mmu-lab.desktop');
    expect(r.stdout).toBe(
      [`Wrote ${entry}`, `Wrote ${join(data, 'mime', 'packages', 'mmu-lab.xml')}`, `Wrote ${join(data, 'icons', 'hicolor', 'scalable', 'apps', 'mmu-lab.svg')}`, ''].join('\n'),
    );
    expect(spawnSync('desktop-file-validate', [entry], { encoding: 'utf8' }).stdout).toBe('');
    expect(readFileSync(entry, 'utf8')).toMatch(new RegExp(`^Exec=${process.execPath} ${bin} serve --open %F$`, 'm'));

    const env = { ...process.env, XDG_DATA_HOME: data, XDG_DATA_DIRS: '/usr/share' };
    const session = join(temp, 'run.mmulab');
    writeFileSync(session, readFileSync(join(root, 'sessions', 'fixtures', 'v1', 'script-basic.mmulab')));
    const info = spawnSync('gio', ['info', '-a', 'standard::content-type,standard::icon', session], { encoding: 'utf8', env }).stdout;
    expect(info).toContain('standard::content-type: application/x-mmulab-session');
    expect(info).toMatch(/standard::icon: .*\bmmu-lab\b/);
    expect(spawnSync('xdg-mime', ['query', 'default', 'application/x-mmulab-session'], { encoding: 'utf8', env }).stdout.trim()).toBe('mmu-lab.desktop');

    const gone = cli(data, 'install-desktop', '--remove');
    expect(gone.status, gone.stderr).toBe(0);
    expect(existsSync(entry)).toBe(false);
    expect(spawnSync('gio', ['info', '-a', 'standard::content-type', session], { encoding: 'utf8', env }).stdout).not.toContain('application/x-mmulab-session');
  });
});
