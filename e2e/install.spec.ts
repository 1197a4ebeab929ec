// Installs like a real tool (issue 19 §1, §5): the packed tarball installed with `npm install -g`
// into a temporary prefix, with nothing but Node (no dev dependencies, no tsx), then the
// installed `mmu-lab` run from a folder outside the repository: record (into the sessions
// folder), info (also of every earlier format version, and a clear refusal of versions it does
// not read), lab run, and serve — the served page in Chromium shows the app with that session.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { buildCli } from '../scripts/build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; devDependencies: Record<string, string> };

test.describe.configure({ mode: 'serial', timeout: 240_000 });

let temp: string;
let prefix: string;
let work: string;
let env: NodeJS.ProcessEnv;
let tarball: string;

test.beforeAll(async () => {
  test.setTimeout(240_000);
  temp = mkdtempSync(join(tmpdir(), 'mmulab-install-'));
  prefix = join(temp, 'prefix');
  work = join(temp, 'work'); // a folder outside the repository
  mkdirSync(work, { recursive: true });
  // The CLI bundle as `npm run build` makes it (global-setup has built the renderer); no build
  // in `npm pack` itself, so the renderer other tests are serving is not rebuilt under them.
  await buildCli(undefined, 0);
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', temp], { cwd: root, encoding: 'utf8' });
  expect(pack.status, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string }>;
  tarball = join(temp, info!.filename);
  expect(info!.filename).toBe(`${pkg.name}-${pkg.version}.tgz`);
  // A clean environment: nothing of this checkout's node_modules or npm config on the path.
  env = {
    PATH: [join(prefix, 'bin'), ...String(process.env.PATH).split(delimiter).filter((p) => !p.includes('node_modules'))].join(delimiter),
    HOME: join(temp, 'home'),
    MMU_LAB_HOME: join(temp, 'data'),
    npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? temp, '.npm'),
    DISPLAY: '',
  };
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: work, encoding: 'utf8', env });
  expect(install.status, install.stderr + install.stdout).toBe(0);
});

test.afterAll(() => {
  if (temp) rmSync(temp, { recursive: true, force: true });
});

function mmuLab(...args: string[]) {
  return spawnSync('mmu-lab', args, { cwd: work, encoding: 'utf8', env, timeout: 120_000 });
}

test('the tarball holds the bundled CLI, the built app, the labs and the docs, and no sources or source maps', () => {
  const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const f of ['package/bin/mmu-lab.js', 'package/dist/cli/mmu-lab.mjs', 'package/dist/cli/vmWorker.mjs', 'package/dist/renderer/index.html', 'package/labs/01-demand-fault/lab.yaml', 'package/docs/guide.md', 'package/build/linux/mmu-lab.desktop', 'package/package.json']) {
    expect(list, f).toContain(f);
  }
  expect(list.filter((f) => f.endsWith('.map') || f.endsWith('.ts') || /^package\/(core|sessions|electron|renderer|node_modules)\//.test(f))).toEqual([]);
});

test('installs with no dependencies at all: no tsx, nothing but the package', () => {
  const installed = join(prefix, 'lib', 'node_modules');
  expect(readdirSync(installed)).toEqual([pkg.name]);
  // No dev dependency (tsx, esbuild, vite, electron, …) comes along. Every dependency is bundled,
  // so package.json has devDependencies only; one put in "dependencies" would be downloaded for nothing.
  const nested = join(installed, pkg.name, 'node_modules');
  const present = existsSync(nested) ? readdirSync(nested) : [];
  expect(present.filter((name) => name in pkg.devDependencies)).toEqual([]);
  expect(present).not.toContain('tsx');
  const r = mmuLab('--version');
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toBe(`${pkg.version}\n`);
});

test('record, info and lab run from a folder outside the repository', () => {
  const rec = mmuLab('record', 'demand-update');
  expect(rec.status, rec.stderr).toBe(0);
  const session = join(temp, 'data', 'sessions', 'demand-update.mmulab');
  expect(rec.stdout).toContain(` to ${session} in `);
  const info = mmuLab('info', session, '--json');
  expect(info.status, info.stderr).toBe(0);
  expect(JSON.parse(info.stdout)).toMatchObject({ scenarioName: 'demand-update', complete: true, formatMajor: 1 });
  const where = mmuLab('where', '--json');
  expect(JSON.parse(where.stdout)).toMatchObject({ sessions: join(temp, 'data', 'sessions'), labs: join(prefix, 'lib', 'node_modules', pkg.name, 'labs') });
  const lab = mmuLab('lab', 'run', '01-demand-fault', '-o', join(temp, 'lab-out'));
  expect(lab.status, lab.stderr).toBe(0);
  expect(lab.stdout).toMatch(/Result: PASS \(\d+\/\d+ checks/);
});

test('install-desktop puts the desktop entry of this installation where the desktop looks (Linux)', () => {
  test.skip(process.platform !== 'linux', 'XDG desktops only');
  const data = join(temp, 'share');
  const r = spawnSync('mmu-lab', ['install-desktop'], { cwd: work, encoding: 'utf8', env: { ...env, XDG_DATA_HOME: data } });
  expect(r.status, r.stderr).toBe(0);
  const entry = readFileSync(join(data, 'applications', 'mmu-lab.desktop'), 'utf8');
  expect(entry).toContain(` ${join(prefix, 'lib', 'node_modules', pkg.name, 'bin', 'mmu-lab.js')} serve --open %F`);
  expect(existsSync(join(data, 'mime', 'packages', 'mmu-lab.xml'))).toBe(true);
  expect(existsSync(join(data, 'icons', 'hicolor', 'scalable', 'apps', 'mmu-lab.svg'))).toBe(true);
});

test('sessions of every earlier format version open; other versions are refused naming both', () => {
  const fixtures = join(root, 'sessions', 'fixtures');
  for (const version of readdirSync(fixtures).filter((d) => /^v\d+$/.test(d))) {
    for (const file of readdirSync(join(fixtures, version)).filter((f) => f.endsWith('.mmulab'))) {
      const r = mmuLab('info', join(fixtures, version, file), '--json');
      expect(r.status, `${version}/${file}: ${r.stderr}`).toBe(0);
      expect((JSON.parse(r.stdout) as { formatMajor: number }).formatMajor).toBe(Number(version.slice(1)));
    }
  }
  // The format version is the byte after the 8-byte magic (docs/session-format.md).
  const v1 = readFileSync(join(fixtures, 'v1', 'script-basic.mmulab'));
  for (const major of [0, 2]) {
    const file = join(temp, `v${major}.mmulab`);
    const bytes = Buffer.from(v1);
    bytes[8] = major;
    writeFileSync(file, bytes);
    const r = mmuLab('info', file);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mmu-lab: ${file}: This session uses format version ${major}; this MMU Lab reads version 1.\n`);
  }
});

test('serve: the printed URL opens the app in Chromium with the session the installed CLI recorded; Ctrl-C stops it', async ({ page }) => {
  // A session recorded elsewhere, named on the command line: brought in and opened on load.
  expect(mmuLab('record', 'demand-zap', '-o', 'my run.mmulab', '-q').status).toBe(0);
  const child: ChildProcess = spawn('mmu-lab', ['serve', '--port', '0', 'my run.mmulab'], { cwd: work, env });
  try {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^MMU Lab: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+&open=my%20run\.mmulab)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      void exit.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    await page.goto(url);
    await expect(page.getByTestId('session-file')).toHaveText('my run.mmulab');
    await expect(page.getByTestId('session-title')).toHaveText('demand-zap');
    const button = page.getByRole('navigation', { name: 'Sessions' }).locator('button[data-session-id="demand-update.mmulab"]');
    await expect(button).toBeVisible();
    await button.click();
    await expect(page.getByTestId('session-title')).toHaveText('demand-update');
    await expect(page.getByTestId('exit-count')).toHaveText(/^[\d,]+$/);
    const exits = (JSON.parse(mmuLab('info', join(temp, 'data', 'sessions', 'demand-update.mmulab'), '--json').stdout) as { exits: number }).exits;
    await expect(page.getByTestId('exit-count')).toHaveText(exits.toLocaleString('en-US'));
    child.kill('SIGINT');
    expect(await exit).toBe(0);
    expect(err).toContain('Stopped.');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
