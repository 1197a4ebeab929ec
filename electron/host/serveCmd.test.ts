// `mmu-lab where`, `mmu-lab record` without -o and `mmu-lab serve` (issue 19 §2–3, issue 17 §1),
// through the real command (bin/mmu-lab.js) and a real HTTP server.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'mmu-lab.js');
const temp = mkdtempSync(join(tmpdir(), 'mmulab-serve-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
const rendererBuilt = existsSync(join(root, 'dist', 'renderer', 'index.html'));

/** A GET as a browser on another machine sends it: to this host's port, naming the host it asked for (fetch cannot set Host). */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; csp: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, csp: String(res.headers['content-security-policy'] ?? '') });
    }).on('error', reject);
  });
}

function cli(env: Record<string, string>, ...args: string[]) {
  const clean = { ...process.env };
  delete clean.MMU_LAB_SESSIONS_DIR;
  delete clean.MMU_LAB_HOME;
  return spawnSync(process.execPath, [bin, ...args], { cwd: temp, encoding: 'utf8', env: { ...clean, ...env } });
}

describe('mmu-lab where and record without -o', () => {
  it('where prints the XDG folders under a home, or MMU_LAB_HOME', () => {
    const home = join(temp, 'home');
    const xdg = cli({ HOME: home, XDG_DATA_HOME: '', XDG_CONFIG_HOME: '' }, 'where', '--json');
    expect(xdg.status, xdg.stderr).toBe(0);
    expect(JSON.parse(xdg.stdout)).toMatchObject({ sessions: join(home, '.local/share/mmu-lab/sessions'), settings: join(home, '.config/mmu-lab') });
    const one = cli({ MMU_LAB_HOME: join(temp, 'lab') }, 'where');
    expect(one.stdout).toContain(`Sessions  ${join(temp, 'lab', 'sessions')}\n`);
    expect(one.stdout).toContain(`Settings  ${join(temp, 'lab')}\n`);
  });

  it('record writes into the sessions folder under a free name and says where', () => {
    const env = { MMU_LAB_HOME: join(temp, 'rec') };
    const sessions = join(temp, 'rec', 'sessions');
    const first = cli(env, 'record', 'demand-update');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain(` to ${join(sessions, 'demand-update.mmulab')} in `);
    expect(first.stdout).toContain('sessions folder the app lists');
    const second = cli(env, 'record', 'demand-update', '-q');
    expect(second.stdout).toBe('');
    expect(readdirSync(sessions).sort()).toEqual(['demand-update-2.mmulab', 'demand-update.mmulab']);
    const info = cli(env, 'info', join(sessions, 'demand-update-2.mmulab'), '--json');
    expect(JSON.parse(info.stdout)).toMatchObject({ scenarioName: 'demand-update', complete: true });
  });
});

describe('mmu-lab serve', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  /** Start serve; resolves with its first stdout line once printed. */
  function serve(env: Record<string, string>, ...args: string[]): Promise<{ line: string; stderr: () => string; exit: Promise<number | null> }> {
    const clean = { ...process.env };
    delete clean.MMU_LAB_SESSIONS_DIR;
    child = spawn(process.execPath, [bin, 'serve', ...args], { cwd: temp, env: { ...clean, ...env, DISPLAY: '', WAYLAND_DISPLAY: '' } });
    let out = '';
    let err = '';
    const exit = new Promise<number | null>((done) => child!.on('exit', (code) => done(code)));
    return new Promise((resolve, reject) => {
      // Started: the URL on stdout and the last start-up line on stderr.
      const check = () => {
        if (out.includes('\n') && err.includes('Press Ctrl-C to stop.')) resolve({ line: out.split('\n')[0]!, stderr: () => err, exit });
      };
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      child!.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        check();
      });
      void exit.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
  }

  it.skipIf(!rendererBuilt)('prints the URL with its token, serves the app, brings a session in, and stops on Ctrl-C (needs npm run build)', async () => {
    const home = join(temp, 'srv');
    copyFileSync(join(root, 'sessions', 'fixtures', 'v1', 'script-basic.mmulab'), join(temp, 'mine.mmulab'));
    const s = await serve({ MMU_LAB_HOME: home }, '--port', '0', '--open', 'mine.mmulab');
    const m = /^MMU Lab: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=[A-Za-z0-9_-]{43})&open=mine\.mmulab$/.exec(s.line);
    expect(m, s.line).not.toBeNull();
    expect(readdirSync(join(home, 'sessions'))).toEqual(['mine.mmulab']);
    // --open with no display (as here): says so instead of failing.
    expect(s.stderr()).toContain('No display found; open the URL above in a browser.');
    const page = await fetch(m![1]!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app">');
    expect((await fetch(`http://127.0.0.1:${m![2]}/`)).status).toBe(403); // no token
    child!.kill('SIGINT');
    expect(await s.exit).toBe(0);
    expect(s.stderr()).toMatch(/SIGINT: finishing recordings and stopping\.\nStopped\.\n$/);
  });

  it.skipIf(!rendererBuilt)('a trace given is imported into the sessions folder under its own name and opened; a file it cannot open is named', async () => {
    const home = join(temp, 'srv-trace');
    const trace = join(root, 'sessions', 'import', 'fixtures', 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt');
    const s = await serve({ MMU_LAB_HOME: home }, trace, 'notes.pdf');
    expect(s.line).toMatch(/&open=ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023\.mmulab$/);
    expect(readdirSync(join(home, 'sessions'))).toContain('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.mmulab');
    expect(s.stderr()).toContain('Not opened: notes.pdf: notes.pdf is not a file MMU Lab opens');
    const info = cli({ MMU_LAB_HOME: home }, 'info', join(home, 'sessions', 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.mmulab'), '--json');
    // The same events as `mmu-lab import` of the same file.
    const direct = join(temp, 'direct.mmulab');
    expect(cli({}, 'import', trace, '-o', direct, '-q').status).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ events: JSON.parse(cli({}, 'info', direct, '--json').stdout).events });
    child!.kill('SIGINT');
    expect(await s.exit).toBe(0);
  });

  it('refuses to listen beyond loopback without --allow-remote, in one line', () => {
    const r = cli({ MMU_LAB_HOME: join(temp, 'srv2') }, 'serve', '--host', '0.0.0.0');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('mmu-lab: --host 0.0.0.0 would let other machines reach MMU Lab; add --allow-remote to mean it (the URL\'s token is then the only protection)\n');
  });

  it.skipIf(!rendererBuilt)('with --allow-remote, listens on all interfaces, names this machine in the URL and warns that the token is the only protection', async () => {
    const s = await serve({ MMU_LAB_HOME: join(temp, 'srv3') }, '--host', '0.0.0.0', '--allow-remote');
    const m = /^MMU Lab: http:\/\/([^:/]+):(\d+)\/\?token=([A-Za-z0-9_-]{43})$/.exec(s.line);
    expect(m, s.line).not.toBeNull();
    expect(m![1]).toBe(hostname());
    expect(s.stderr()).toMatch(/^Warning: listening on 0\.0\.0\.0, reachable from other machines\. The token in the URL is the only protection/);
    // Reached through an address other than loopback's name, with the token: served; without: refused.
    const port = m![2];
    const viaName = await getWithHost(Number(port), `/?token=${m![3]}`, `${hostname()}:${port}`);
    expect(viaName.status).toBe(200);
    expect(viaName.csp).toContain(`ws://${hostname()}:${port}`);
    expect((await getWithHost(Number(port), '/', `${hostname()}:${port}`)).status).toBe(403);
    child!.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });
});

describe('npm start -- run.mmulab', () => {
  it('opens that session: the file, relative to where npm was started, is brought in and named in the URL', async () => {
    const { staleReason } = await import('../../scripts/build.mjs');
    const stale = staleReason();
    if (stale) return console.log(`skipped: npm start would build first (${stale}); run npm run build`);
    const home = join(temp, 'start');
    copyFileSync(join(root, 'sessions', 'fixtures', 'v1', 'multi-vcpu.mmulab'), join(temp, 'run.mmulab'));
    const clean = { ...process.env };
    delete clean.MMU_LAB_SESSIONS_DIR;
    // npm runs the script in the package root and says where it was started in INIT_CWD.
    const child = spawn(process.execPath, [join(root, 'scripts', 'start.mjs'), '--browser', '--no-open', 'run.mmulab'], {
      cwd: root,
      env: { ...clean, MMU_LAB_HOME: home, INIT_CWD: temp },
    });
    try {
      let out = '';
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /^MMU Lab browser host: (\S+)$/m.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`npm start exited ${code}: ${out}`)));
      });
      expect(line).toMatch(/\/\?token=[A-Za-z0-9_-]{43}&open=run\.mmulab$/);
      expect(readdirSync(join(home, 'sessions'))).toEqual(['run.mmulab']);
    } finally {
      child.kill('SIGINT');
    }
  });
});
