// Installers, checked as far as this machine allows (issue 19 §4): the Linux desktop entry and
// the .mmulab MIME type pass Debian's own validators and load into a real MIME database, they
// agree with the electron-builder configuration, that configuration passes electron-builder's
// schema, and — with an Electron distribution present — `npm run package -- --dir` builds an
// app whose --version runs.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const linux = join(root, 'build', 'linux');
const desktopFile = join(linux, 'mmu-lab.desktop');
const mimeFile = join(linux, 'mmu-lab-mime.xml');
const temp = mkdtempSync(join(tmpdir(), 'mmulab-installers-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

interface BuilderConfig {
  productName: string;
  executableName: string;
  fileAssociations: Array<{ ext: string; mimeType: string }>;
  linux: { category: string; desktop: Record<string, string> };
}
const config = require(join(root, 'scripts', 'electron-builder.config.cjs')) as BuilderConfig;

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** The [Desktop Entry] group as key → value. */
function desktopEntries(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+)=(.*)$/.exec(line);
    if (m) entries.set(m[1]!, m[2]!);
  }
  return entries;
}

const session = join(root, 'sessions', 'fixtures', 'v1', 'script-basic.mmulab');

describe('the Linux desktop entry', () => {
  it.skipIf(!have('desktop-file-validate'))('passes desktop-file-validate with no error, warning or hint (needs desktop-file-utils)', () => {
    const r = spawnSync('desktop-file-validate', [desktopFile], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
  });

  it('a broken entry fails the same validator (the check can fail)', () => {
    if (!have('desktop-file-validate')) return console.log('skipped: desktop-file-validate is not installed (Debian: desktop-file-utils)');
    const broken = join(temp, 'broken.desktop');
    writeFileSync(broken, readFileSync(desktopFile, 'utf8').replace(/^Type=.*$/m, 'Type=Program'));
    expect(spawnSync('desktop-file-validate', [broken]).status).not.toBe(0);
  });

  it('names the app, its icon and the MIME type the packaged app registers', () => {
    const entries = desktopEntries(readFileSync(desktopFile, 'utf8'));
    expect(entries.get('Name')).toBe(config.productName);
    expect(entries.get('Exec')).toMatch(new RegExp(`^${config.executableName} %[fFuU]$`));
    expect(entries.get('Icon')).toBe(config.executableName);
    expect(entries.get('MimeType')).toBe(`${config.fileAssociations[0]!.mimeType};`);
    expect(entries.get('Categories')!.split(';')).toContain(config.linux.category);
    // The session type's icon is the app's (electron-builder installs build/icon.png as hicolor apps/<executableName>).
    expect(readFileSync(mimeFile, 'utf8')).toContain(`<icon name="${config.executableName}"/>`);
  });
});

describe('the .mmulab MIME type', () => {
  it.skipIf(!have('xmllint'))('is well-formed and valid against the shared-mime-info elements (xmllint, needs libxml2-utils)', () => {
    const r = spawnSync('xmllint', ['--noout', '--dtdvalid', join(linux, 'shared-mime-info.dtd'), mimeFile], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // The validator refuses what the spec does not allow.
    const bad = join(temp, 'bad-mime.xml');
    writeFileSync(bad, readFileSync(mimeFile, 'utf8').replace('<glob pattern="*.mmulab"/>', '<glob/>'));
    expect(spawnSync('xmllint', ['--noout', '--dtdvalid', join(linux, 'shared-mime-info.dtd'), bad]).status).not.toBe(0);
  });

  it.skipIf(!have('update-mime-database') || !have('gio'))('loads into a MIME database: a session is recognised by its name and by its first bytes (shared-mime-info, gio)', () => {
    const data = join(temp, 'share');
    mkdirSync(join(data, 'mime', 'packages'), { recursive: true });
    copyFileSync(mimeFile, join(data, 'mime', 'packages', 'mmu-lab.xml'));
    const update = spawnSync('update-mime-database', [join(data, 'mime')], { encoding: 'utf8' });
    expect(update.status, update.stderr).toBe(0);
    const type = config.fileAssociations[0]!.mimeType;
    expect(readFileSync(join(data, 'mime', 'globs2'), 'utf8')).toContain(`:${type}:*.${config.fileAssociations[0]!.ext}`);
    const files = join(temp, 'files');
    mkdirSync(files, { recursive: true });
    copyFileSync(session, join(files, 'run.mmulab'));
    copyFileSync(session, join(files, 'no-extension')); // magic: "\x89MMULAB\n" at offset 0
    writeFileSync(join(files, 'other'), 'not a session\n');
    const contentType = (file: string) =>
      /content-type: (\S+)/.exec(
        spawnSync('gio', ['info', '-a', 'standard::content-type', join(files, file)], { encoding: 'utf8', env: { ...process.env, XDG_DATA_DIRS: `${data}:/usr/share`, XDG_DATA_HOME: join(temp, 'nohome') } }).stdout,
      )?.[1];
    expect(contentType('run.mmulab')).toBe(type);
    expect(contentType('no-extension')).toBe(type);
    expect(contentType('other')).not.toBe(type);
  });
});

describe('what electron-builder writes into the deb and the AppImage', () => {
  // electron-builder's own generator (LinuxTargetHelper), fed this configuration and package.json
  // as its packager would be; the packager itself needs an Electron binary.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { description: string; version: string };
  const { LinuxTargetHelper } = require('app-builder-lib/out/targets/LinuxTargetHelper.js') as {
    LinuxTargetHelper: new (packager: unknown) => { computeDesktopEntry(options: unknown): Promise<string>; mimeTypeFiles: Promise<string | null> };
  };
  let n = 0;
  const helper = new LinuxTargetHelper({
    appInfo: { productName: config.productName, sanitizedProductName: config.productName, productFilename: config.productName, description: pkg.description, version: pkg.version },
    executableName: config.executableName,
    fileAssociations: config.fileAssociations,
    config,
    platformSpecificBuildOptions: config.linux,
    getTempFile: async (suffix: string) => join(temp, `eb-${n++}${suffix}`),
  });

  it.skipIf(!have('desktop-file-validate'))('its desktop entry passes desktop-file-validate with no message and carries the checked entry’s extras', async () => {
    const entry = await helper.computeDesktopEntry(config.linux);
    const file = join(temp, 'packaged.desktop');
    writeFileSync(file, entry);
    const r = spawnSync('desktop-file-validate', [file], { encoding: 'utf8' });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
    const entries = desktopEntries(entry);
    const ours = desktopEntries(readFileSync(desktopFile, 'utf8'));
    for (const key of ['Name', 'Icon', 'MimeType', 'Categories', 'GenericName', 'Keywords', 'StartupWMClass']) expect(entries.get(key), key).toBe(ours.get(key));
  });

  it.skipIf(!have('xmllint'))('its MIME file passes xmllint against the same elements and names the same type and glob', async () => {
    const file = await helper.mimeTypeFiles;
    expect(file).not.toBeNull();
    const r = spawnSync('xmllint', ['--noout', '--dtdvalid', join(linux, 'shared-mime-info.dtd'), file!], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(file!, 'utf8')).toContain(`<mime-type type="${config.fileAssociations[0]!.mimeType}">`);
    expect(readFileSync(file!, 'utf8')).toContain(`<glob pattern="*.${config.fileAssociations[0]!.ext}"/>`);
  });
});

describe('the electron-builder configuration', () => {
  // electron-builder's own check (app-builder-lib validates against its scheme.json before building).
  const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
    validateConfiguration(config: unknown, debug: { isEnabled: boolean; add(key: string, value: unknown): void }): Promise<void>;
  };
  const debug = { isEnabled: false, add: () => undefined };

  it("passes electron-builder's schema (app-builder-lib/scheme.json)", async () => {
    await expect(validateConfiguration(config, debug)).resolves.toBeUndefined();
  });

  it('a misspelt option fails that schema (the check can fail)', async () => {
    await expect(validateConfiguration({ ...config, linux: { ...config.linux, categroy: 'Development' } }, debug)).rejects.toThrow(/categroy/);
  });
});

describe('npm run package -- --dir with a real Electron distribution', () => {
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const built = existsSync(join(root, 'dist', 'electron', 'main.cjs')) && existsSync(join(root, 'dist', 'renderer', 'index.html'));
  const reason = !dist ? 'ELECTRON_OVERRIDE_DIST_PATH is not set (no Electron distribution on this machine)' : !built ? 'npm run build has not run' : undefined;
  if (reason) console.log(`skipped: packaging a real app: ${reason}`);

  it.skipIf(!!reason)('builds the unpacked app and its --version runs', () => {
    const out = join(temp, 'package');
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'package.mjs'), '--dir', '--no-build', `--output=${out}`], { cwd: root, encoding: 'utf8', timeout: 600_000 });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const unpacked = readdirSync(out).find((d) => d.endsWith('-unpacked'));
    expect(unpacked).toBeDefined();
    const exe = join(out, unpacked!, process.platform === 'win32' ? `${config.productName}.exe` : config.executableName);
    const v = spawnSync(exe, ['--version'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ELECTRON_ENABLE_LOGGING: '' } });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version);
  });
});
