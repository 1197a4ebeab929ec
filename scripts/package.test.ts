// Packaging (issue 6): the electron-builder configuration, the one message `npm run package`
// gives when no Electron distribution is there, the fuses the afterPack hook sets (on a binary
// carrying a real fuse wire), and a real `--dir` package made from a stand-in Electron.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { unpackedPath } from '../electron/host/vmWorkerSpawn.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; productName: string; version: string; scripts: Record<string, string> };
const temp = mkdtempSync(join(tmpdir(), 'mmulab-package-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

interface BuilderConfig {
  appId: string;
  productName: string;
  icon: string;
  files: string[];
  asarUnpack: string[];
  fileAssociations: Array<{ ext: string; name: string }>;
  linux: { target: string[] };
  mac: { target: string[] };
  win: { target: string[] };
  afterPack: string;
  extraMetadata: { main: string; version?: string };
}
const config = require(join(root, 'scripts', 'electron-builder.config.cjs')) as BuilderConfig;

/** The fuse wire as Electron lays it out: sentinel, version 1, length, one byte per fuse ('0'/'1'). */
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
function fakeElectron(path: string, fuses: string): void {
  writeFileSync(path, Buffer.concat([Buffer.alloc(1000, 7), Buffer.from(SENTINEL), Buffer.from([1, fuses.length]), Buffer.from(fuses), Buffer.alloc(1000, 9)]));
  chmodSync(path, 0o755);
}
function fuseWire(path: string): string {
  const bytes = readFileSync(path);
  const at = bytes.indexOf(SENTINEL) + SENTINEL.length;
  return bytes.subarray(at + 2, at + 2 + bytes[at + 1]!).toString('latin1');
}
/**
 * What Electron's checklist asks, fuse by fuse in wire order (FuseV1Options): RunAsNode off,
 * cookie encryption on, NODE_OPTIONS off, --inspect off, ASAR integrity on, only load from
 * ASAR on, browser-specific V8 snapshot off, extra file:// privileges off.
 */
const EXPECTED_WIRE = '01001100';

function runPackage(args: string[], env: Record<string, string | undefined>) {
  const clean = { ...process.env };
  delete clean.ELECTRON_OVERRIDE_DIST_PATH;
  return spawnSync(process.execPath, [join(root, 'scripts', 'package.mjs'), ...args], { cwd: root, encoding: 'utf8', env: { ...clean, ...env } as NodeJS.ProcessEnv });
}

describe('electron-builder configuration', () => {
  it('names the app, its version, icon, targets and the .mmulab association', () => {
    expect(pkg.scripts.package).toBe('node scripts/package.mjs');
    expect(config.appId).toMatch(/^[a-z]+(\.[a-z0-9]+)+$/);
    expect(config.productName).toBe(pkg.productName);
    expect(config.extraMetadata.version).toBeUndefined(); // the version is package.json's
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.win.target).toEqual(['nsis']);
    expect(config.fileAssociations).toEqual([expect.objectContaining({ ext: 'mmulab' })]);
    expect(existsSync(join(root, config.afterPack))).toBe(true);
  });

  it('has a square PNG icon of at least 512 px (what macOS needs) that decodes', () => {
    const png = readFileSync(join(root, config.icon));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    expect(width).toBe(height);
    expect(width).toBeGreaterThanOrEqual(512);
    // Walk the chunks and inflate the image data: one filter byte plus 4 bytes per pixel per row.
    const idat: Buffer[] = [];
    for (let at = 8; at < png.length; ) {
      const length = png.readUInt32BE(at);
      if (png.subarray(at + 4, at + 8).toString('latin1') === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
      at += 12 + length;
    }
    expect(inflateSync(Buffer.concat(idat)).length).toBe(height * (1 + width * 4));
    expect(existsSync(join(root, 'build', 'icon.svg'))).toBe(true);
  });
});

describe('npm run package without an Electron distribution', () => {
  const npmHasBinary = (() => {
    try {
      return existsSync(require('electron') as string);
    } catch {
      return false;
    }
  })();

  it.skipIf(npmHasBinary)('stops with one line saying what is missing, and builds nothing', () => {
    const r = runPackage([], {});
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm run package: no Electron distribution to package with\. Set ELECTRON_OVERRIDE_DIST_PATH \(or pass --electron-dist DIR\) to an unpacked Electron \d+\.\d+\.\d+ for /);
  });

  it('names a given folder that is not an Electron distribution', () => {
    const missing = runPackage([], { ELECTRON_OVERRIDE_DIST_PATH: join(temp, 'nowhere') });
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe(`npm run package: ELECTRON_OVERRIDE_DIST_PATH is ${join(temp, 'nowhere')}, which is not a folder; it must be an unpacked Electron ${require('electron/package.json').version} for ${process.platform}-${process.arch}.`);
    const empty = runPackage(['--electron-dist', temp], {});
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain(`--electron-dist is ${temp}, which has no ${process.platform === 'win32' ? 'electron.exe' : process.platform === 'darwin' ? 'Electron.app' : 'electron'}`);
    // A distribution that is there, but package.json lacks what the deb needs: said before any build.
    const dist = join(temp, 'dist-for-deb');
    mkdirSync(dist, { recursive: true });
    fakeElectron(join(dist, 'electron'), '10111100');
    if (process.platform === 'linux' && !(pkg as { homepage?: string }).homepage) {
      const deb = runPackage(['--linux'], { ELECTRON_OVERRIDE_DIST_PATH: dist });
      expect(deb.status).toBe(1);
      expect(deb.stderr.trim()).toBe('npm run package: the deb package needs the project\'s URL: add "homepage" (or a GitHub "repository") to package.json, or make only the AppImage with --targets=AppImage.');
    }
    const bad = runPackage(['--nope'], {});
    expect(bad.stderr).toMatch(/^npm run package: unknown option "--nope"/);
    for (const r of [missing, empty, bad]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the afterPack hook', () => {
  it('sets every fuse as the checklist asks on the packed binary', async () => {
    const out = join(temp, 'hook');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    fakeElectron(join(out, 'mmu-lab'), '10111100'); // Electron's defaults: RunAsNode on, NODE_OPTIONS on, ...
    const afterPack = require(join(root, 'scripts', 'afterPack.cjs')) as (context: unknown) => Promise<void>;
    const context = { appOutDir: out, electronPlatformName: 'linux', arch: 1, packager: { executableName: 'mmu-lab', appInfo: { productFilename: 'MMU Lab' } } };
    await afterPack(context);
    expect(fuseWire(join(out, 'mmu-lab'))).toBe(EXPECTED_WIRE);

    // A newer Electron with a fuse we have not decided on fails the package instead of passing silently.
    fakeElectron(join(out, 'mmu-lab'), '101111000');
    await expect(afterPack(context)).rejects.toThrow(/strictlyRequireAllFuses/);
  });
});

describe('a real package from a stand-in Electron distribution', () => {
  const built = ['dist/electron/main.cjs', 'dist/electron/vmWorker.cjs', 'dist/renderer/index.html'].every((f) => existsSync(join(root, f)));
  it.skipIf(!built)('packs the bundles into an asar, unpacks the worker, ships the docs, and flips the fuses (needs npm run build)', () => {
    const dist = join(temp, 'electron-dist');
    mkdirSync(dist, { recursive: true });
    fakeElectron(join(dist, 'electron'), '10111100');
    writeFileSync(join(dist, 'version'), require('electron/package.json').version);
    const out = join(temp, 'out');
    const r = runPackage(['--linux', '--dir', '--no-build', `--output=${out}`], { ELECTRON_OVERRIDE_DIST_PATH: dist });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const app = join(out, 'linux-unpacked');
    expect(fuseWire(join(app, 'mmu-lab'))).toBe(EXPECTED_WIRE);
    const asar = require('@electron/asar') as { listPackage(p: string): string[]; extractFile(p: string, f: string): Buffer };
    const files = asar.listPackage(join(app, 'resources', 'app.asar')).map((f) => f.split('\\').join('/'));
    expect(files).toEqual(expect.arrayContaining(['/package.json', '/dist/electron/main.cjs', '/dist/electron/preload.cjs', '/dist/renderer/index.html']));
    expect(files.filter((f) => f.startsWith('/node_modules') || f.endsWith('.map') || f.startsWith('/electron') || f.startsWith('/core'))).toEqual([]);
    const packed = JSON.parse(asar.extractFile(join(app, 'resources', 'app.asar'), 'package.json').toString()) as { main: string; version: string };
    expect(packed).toMatchObject({ main: 'dist/electron/main.cjs', version: pkg.version });
    // Where the packed main bundle (dist/electron/main.cjs inside the asar) will look for its worker.
    const workerSeenFromAsar = unpackedPath(join(app, 'resources', 'app.asar', 'dist', 'electron', 'vmWorker.cjs'));
    expect(workerSeenFromAsar).toBe(join(app, 'resources', 'app.asar.unpacked', 'dist', 'electron', 'vmWorker.cjs'));
    expect(existsSync(workerSeenFromAsar)).toBe(true);
    expect(existsSync(join(app, 'resources', 'docs', 'guide.md'))).toBe(true);
  });
});
