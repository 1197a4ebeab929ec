// The thin real-Electron suite (STYLE habit 8): launches the built app through Playwright's
// `_electron`, with a temporary profile, and checks the window, its secure webPreferences,
// the bridge and an API round trip that records a session we then open with our own reader.
// Where no Electron binary is installed, it skips with a printed reason.
import { _electron as electron, expect, test, type ElectronApplication } from '@playwright/test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function electronBinary(): { path?: string; reason?: string } {
  try {
    const path = createRequire(import.meta.url)('electron') as unknown;
    if (typeof path !== 'string' || !existsSync(path)) return { reason: `the Electron binary ${String(path)} does not exist` };
    return { path };
  } catch (error) {
    return { reason: `the electron npm package has no binary (${String(error instanceof Error ? error.message : error).split('\n')[0]})` };
  }
}

const binary = electronBinary();
// Chromium refuses to run as root with its OS sandbox (containers, CI); the renderer sandbox
// (webPreferences.sandbox) that this suite checks is a separate thing and stays on.
const launchArgs = [...(process.platform === 'linux' && process.getuid?.() === 0 ? ['--no-sandbox'] : []), root];
const mainBundle = join(root, 'dist', 'electron', 'main.cjs');

test.describe('@e2e Electron shell', () => {
  let app: ElectronApplication | undefined;
  let profile: string;

  test.beforeAll(() => {
    if (!binary.path) console.log(`Skipping the Electron suite: ${binary.reason}.`);
  });

  test.beforeEach(async () => {
    test.skip(!binary.path, `Electron binary not installed: ${binary.reason}`);
    test.skip(!existsSync(mainBundle), `${mainBundle} is missing; run npm run build first`);
    profile = mkdtempSync(join(tmpdir(), 'mmulab-electron-'));
    app = await electron.launch({
      executablePath: binary.path,
      args: launchArgs,
      env: { ...process.env, MMU_LAB_USER_DATA: profile, MMU_LAB_SESSIONS_DIR: join(profile, 'sessions') } as Record<string, string>,
    });
  });

  test.afterEach(async () => {
    await app?.close();
    app = undefined;
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test('opens one window with secure webPreferences and only the typed bridge', async () => {
    const page = await app!.firstWindow();
    await expect(page).toHaveTitle(/MMU Lab/);
    expect(page.url()).toMatch(/^app:\/\/mmulab\//);

    const prefs = await app!.evaluate(({ BrowserWindow }) => {
      const wins = BrowserWindow.getAllWindows();
      // Undocumented but long-standing: the preferences the renderer was created with.
      type Prefs = { contextIsolation?: boolean; sandbox?: boolean; nodeIntegration?: boolean; webSecurity?: boolean; webviewTag?: boolean };
      const p = (wins[0]!.webContents as unknown as { getLastWebPreferences(): Prefs | null }).getLastWebPreferences();
      return { windows: wins.length, contextIsolation: p?.contextIsolation, sandbox: p?.sandbox, nodeIntegration: p?.nodeIntegration, webSecurity: p?.webSecurity, webviewTag: p?.webviewTag };
    });
    expect(prefs).toEqual({ windows: 1, contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false });

    const globals = await page.evaluate(() => ({
      bridge: Object.keys((window as unknown as { mmulab: object }).mmulab).sort(),
      require: typeof (globalThis as { require?: unknown }).require,
      process: typeof (globalThis as { process?: unknown }).process,
      popup: window.open('https://example.com') === null,
    }));
    expect(globals).toEqual({ bridge: ['call', 'on'], require: 'undefined', process: 'undefined', popup: true });

    // Navigation away is refused; permission requests are denied.
    await page.evaluate(() => {
      window.location.href = 'https://example.com/';
    });
    await page.waitForTimeout(300);
    expect(page.url()).toMatch(/^app:\/\/mmulab\//);
    expect(await page.evaluate(() => Notification.requestPermission())).toBe('denied');

    // The application menu has the usual entries.
    const menu = await app!.evaluate(({ Menu }) => {
      const items = Menu.getApplicationMenu()?.items ?? [];
      const file = items.find((i) => i.label.replace('&', '') === 'File');
      return { top: items.map((i) => i.label.replace('&', '')), file: file?.submenu?.items.map((i) => i.label) ?? [] };
    });
    expect(menu.top).toEqual(expect.arrayContaining(['File', 'View']));
    expect(menu.file).toEqual(expect.arrayContaining(['Open Session…', 'Open Recent', 'Show Sessions Folder']));
  });

  test('remembers the window size across launches', async () => {
    const page = await app!.firstWindow();
    await page.waitForLoadState('domcontentloaded');
    await app!.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.setBounds({ width: 900, height: 700 }));
    await app!.close();
    app = await electron.launch({
      executablePath: binary.path,
      args: launchArgs,
      env: { ...process.env, MMU_LAB_USER_DATA: profile, MMU_LAB_SESSIONS_DIR: join(profile, 'sessions') } as Record<string, string>,
    });
    await app.firstWindow();
    const size = await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.getBounds());
    expect({ width: size.width, height: size.height }).toEqual({ width: 900, height: 700 });
  });

  test('API round trip: info, a refused path, and a recorded run our reader opens', async () => {
    const page = await app!.firstWindow();
    type Bridge = { call(m: string, p: unknown): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }> };
    const info = await page.evaluate(() => (window as unknown as { mmulab: Bridge }).mmulab.call('app.info', {}));
    expect(info).toMatchObject({ ok: true, result: { host: 'electron' } });

    const refused = await page.evaluate(() => (window as unknown as { mmulab: Bridge }).mmulab.call('sessions.open', { id: '../../etc/passwd' }));
    expect(refused).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    const unknown = await page.evaluate(() => (window as unknown as { mmulab: Bridge }).mmulab.call('fs.readFile', {}));
    expect(unknown).toMatchObject({ ok: false, error: { code: 'unknown-method' } });

    const scenario = {
      name: 'electron e2e',
      vms: [{ vcpus: 1, guest: { workload: { kind: 'demand-paging', pages: 16 } }, mmu: { mode: 'shadow' } }],
    };
    const started = (await page.evaluate((s) => (window as unknown as { mmulab: Bridge }).mmulab.call('runs.start', { scenario: { scenario: s } }), scenario)) as {
      ok: boolean;
      result: { runId: string; sessionId: string };
    };
    expect(started.ok).toBe(true);
    let final: { state: string; exits: number } | undefined;
    await expect
      .poll(async () => {
        const r = (await page.evaluate((id) => (window as unknown as { mmulab: Bridge }).mmulab.call('runs.status', { runId: id }), started.result.runId)) as {
          result: { state: string; exits: number };
        };
        final = r.result;
        return r.result.state;
      })
      .toBe('finished');

    const { openSession } = await import('../sessions/reader.ts');
    const opened = openSession(join(profile, 'sessions', started.result.sessionId));
    expect(opened.session).toBeDefined();
    const summary = opened.session!.summary() as { eventsByType: Record<string, number> };
    expect(summary.eventsByType.vmexit ?? 0).toBe(final!.exits);
  });
});
