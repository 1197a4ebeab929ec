/**
 * `mmu-lab install-desktop [--remove]`: on Linux, give an npm-installed MMU Lab a place in the
 * desktop for this user (XDG): the app in the menu, `.mmulab` files known by name and content,
 * with the app's icon, and opened by double-click in the browser app (`mmu-lab serve --open`).
 * The files are the ones the tests validate (build/linux/, build/icon.svg); only the entry's
 * Exec line is written here, naming this installation's Node and command.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { xdgDataHome, type Platform, currentPlatform } from '../../sessions/dataDirs.ts';

export interface DesktopFiles {
  entry: string;
  mime: string;
  icon: string;
}

/** Where the user's copies go under the XDG data home. */
export function desktopFiles(dataHome: string): DesktopFiles {
  return {
    entry: join(dataHome, 'applications', 'mmu-lab.desktop'),
    mime: join(dataHome, 'mime', 'packages', 'mmu-lab.xml'),
    icon: join(dataHome, 'icons', 'hicolor', 'scalable', 'apps', 'mmu-lab.svg'),
  };
}

/** One argument of an Exec line, quoted as the Desktop Entry spec asks when it needs to be. */
function execArg(arg: string): string {
  if (!/[\s"'\\><~|&;$*?#()`]/.test(arg)) return arg;
  // Inside quotes ", `, $ and \ are escaped with a backslash; the key file format then doubles every backslash.
  return `"${arg.replace(/(["`$\\])/g, '\\$1')}"`.replace(/\\/g, '\\\\');
}

/** The checked entry with an Exec line that starts this installation's `mmu-lab serve --open`. */
export function desktopEntry(template: string, node: string, bin: string): string {
  const exec = `Exec=${[node, bin, 'serve', '--open'].map(execArg).join(' ')} %F`;
  if (!/^Exec=.*$/m.test(template)) throw new Error('the desktop entry template has no Exec line');
  return template.replace(/^Exec=.*$/m, exec);
}

/** Run a desktop database tool if it is installed; a note when it is not. */
function refresh(tool: string, dir: string): string | undefined {
  const r = spawnSync(tool, [dir], { encoding: 'utf8' });
  if (r.error) return `${tool} is not installed, so the desktop learns of the change at its next cache rebuild`;
  if (r.status !== 0) return `${tool} ${dir} failed: ${String(r.stderr).trim().split('\n')[0]}`;
  return undefined;
}

export function installDesktop(root: string, p: Platform = currentPlatform()): string[] {
  const dataHome = xdgDataHome(p);
  const files = desktopFiles(dataHome);
  const template = readFileSync(join(root, 'build', 'linux', 'mmu-lab.desktop'), 'utf8');
  for (const file of Object.values(files)) mkdirSync(dirname(file), { recursive: true });
  writeFileSync(files.entry, desktopEntry(template, process.execPath, join(root, 'bin', 'mmu-lab.js')));
  copyFileSync(join(root, 'build', 'linux', 'mmu-lab-mime.xml'), files.mime);
  copyFileSync(join(root, 'build', 'icon.svg'), files.icon);
  const notes = [refresh('update-mime-database', join(dataHome, 'mime')), refresh('update-desktop-database', join(dataHome, 'applications'))];
  return [`Wrote ${files.entry}`, `Wrote ${files.mime}`, `Wrote ${files.icon}`, ...notes.filter((n): n is string => !!n)];
}

export function removeDesktop(p: Platform = currentPlatform()): string[] {
  const dataHome = xdgDataHome(p);
  const lines: string[] = [];
  for (const file of Object.values(desktopFiles(dataHome))) {
    if (!existsSync(file)) continue;
    rmSync(file);
    lines.push(`Removed ${file}`);
  }
  const notes = [refresh('update-mime-database', join(dataHome, 'mime')), refresh('update-desktop-database', join(dataHome, 'applications'))];
  return [...(lines.length ? lines : ['Nothing to remove.']), ...notes.filter((n): n is string => !!n)];
}
