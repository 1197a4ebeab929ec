// The thin real-Electron suite (STYLE habit 8): launches the built app through Playwright's
// `_electron`, with a temporary profile, and checks the window, its secure webPreferences,
// the bridge and an API round trip that records a session we then open with our own reader;
// then the desktop shell: menus and accelerators, open/save dialogs (stubbed in the main
// process, so the app's own handlers run), recent files, drops of sessions, scenarios and
// traces, the task bar progress, a foreign window refused, and quitting during a recording.
// Where no Electron binary is installed, it skips with a printed reason.
import { _electron as electron, expect, test, type ElectronApplication } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

type Bridge = { call(m: string, p: unknown): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }> };
type Status = { runId: string; sessionId: string; state: string; events: number; exits: number };

/** The project's CLI; returns stdout, throws with stderr on failure. */
function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'mmu-lab.js'), ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`mmu-lab ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Click a menu item by id, as the user would (its click handler runs in the main process). */
async function clickMenu(app: ElectronApplication, id: string): Promise<void> {
  await app.evaluate(({ Menu }, itemId) => {
    const item = Menu.getApplicationMenu()?.getMenuItemById(itemId);
    if (!item) throw new Error(`no menu item ${itemId}`);
    item.click();
  }, id);
}

/** Make the next open/save dialogs answer `path` (the app's own handlers then run as usual). */
async function stubDialogs(app: ElectronApplication, answers: { open?: string; save?: string }): Promise<void> {
  await app.evaluate(({ dialog }, a) => {
    if (a.open) dialog.showOpenDialog = (async () => ({ canceled: false, filePaths: [a.open!] })) as unknown as typeof dialog.showOpenDialog;
    if (a.save) dialog.showSaveDialog = (async () => ({ canceled: false, filePath: a.save! })) as unknown as typeof dialog.showSaveDialog;
    const shown: Array<{ message: string; detail?: string }> = [];
    (globalThis as { shownMessages?: typeof shown }).shownMessages = shown;
    dialog.showMessageBox = (async (...args: unknown[]) => {
      const options = args.find((x): x is { message: string; detail?: string } => !!x && typeof x === 'object' && 'message' in x);
      if (options) shown.push({ message: options.message, detail: options.detail });
      return { response: 0, checkboxChecked: false };
    }) as unknown as typeof dialog.showMessageBox;
  }, answers);
}

/** Drop a file on the window, as the preload reports one (the main process checks it all the same). */
async function drop(app: ElectronApplication, path: string): Promise<void> {
  await app.evaluate(({ BrowserWindow, ipcMain }, p) => {
    const wc = BrowserWindow.getAllWindows()[0]!.webContents;
    const frame = wc.mainFrame; // one object for both, as in a real IPC event from the main frame
    ipcMain.emit('mmulab:shell.dropped', { sender: { id: wc.id, mainFrame: frame }, senderFrame: frame }, p);
  }, path);
}

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
  test('menus: the usual entries with their accelerators; Reload only in development', async () => {
    await app!.firstWindow();
    const menu = await app!.evaluate(({ Menu }) => {
      const m = Menu.getApplicationMenu()!;
      const byId = (id: string) => {
        const item = m.getMenuItemById(id);
        return item ? { label: item.label, accelerator: item.accelerator ?? null } : null;
      };
      const roles = m.items.flatMap((top) => top.submenu?.items.map((i) => i.role ?? '') ?? []).filter(Boolean);
      return {
        open: byId('open'),
        recent: byId('open-recent'),
        scenario: byId('record-scenario'),
        trace: byId('import-trace'),
        saveAs: byId('save-as'),
        exportItem: byId('export'),
        close: byId('close'),
        docs: byId('docs'),
        roles,
      };
    });
    expect(menu.open).toEqual({ label: 'Open Session…', accelerator: 'CmdOrCtrl+O' });
    expect(menu.recent?.label).toBe('Open Recent');
    expect(menu.scenario).toEqual({ label: 'Record Scenario File…', accelerator: 'CmdOrCtrl+Shift+O' });
    expect(menu.trace).toEqual({ label: 'Import Trace…', accelerator: 'CmdOrCtrl+I' });
    expect(menu.saveAs).toEqual({ label: 'Save Session As…', accelerator: 'CmdOrCtrl+Shift+S' });
    expect(menu.exportItem).toEqual({ label: 'Export Session…', accelerator: 'CmdOrCtrl+E' });
    expect(menu.close).toEqual({ label: 'Close Window', accelerator: 'CmdOrCtrl+W' });
    expect(menu.docs?.label).toBe('MMU Lab Documentation');
    expect(menu.roles.map((r) => r.toLowerCase())).toEqual(expect.arrayContaining(['zoomin', 'zoomout', 'resetzoom', 'togglefullscreen']));
    // Not a development run (no MMU_LAB_DEV_URL): no Reload, no developer tools.
    expect(menu.roles.map((r) => r.toLowerCase())).not.toEqual(expect.arrayContaining(['reload']));
    expect(menu.roles.map((r) => r.toLowerCase())).not.toEqual(expect.arrayContaining(['toggledevtools']));
  });

  test('File → Open (dialog), Open Recent, Save As and Export write where the dialog said', async () => {
    const page = await app!.firstWindow();
    const outside = join(profile, 'outside');
    const recorded = join(profile, 'demand-zap.mmulab');
    cli(['record', 'demand-zap', '-o', recorded]);

    await stubDialogs(app!, { open: recorded });
    await clickMenu(app!, 'open');
    await expect(page.getByTestId('session-file')).toHaveText('demand-zap.mmulab');
    await expect(page.getByTestId('exit-count')).toHaveText((JSON.parse(cli(['info', recorded, '--json'])) as { exits: number }).exits.toLocaleString('en-US'));
    const inFolder = join(profile, 'sessions', 'demand-zap.mmulab');
    expect(JSON.parse(readFileSync(join(profile, 'recent.json'), 'utf8'))).toEqual([inFolder]);
    const recent = await app!.evaluate(({ Menu }) => Menu.getApplicationMenu()!.getMenuItemById('open-recent')!.submenu!.items.map((i) => i.label));
    expect(recent[0]).toBe(inFolder);

    const savedAs = join(profile, 'saved copy.mmulab');
    await stubDialogs(app!, { save: savedAs });
    await clickMenu(app!, 'save-as');
    await expect.poll(() => existsSync(savedAs)).toBe(true);
    expect(readFileSync(savedAs)).toEqual(readFileSync(inFolder));

    const exported = join(profile, 'export.jsonl');
    await stubDialogs(app!, { save: exported });
    await clickMenu(app!, 'export');
    await expect.poll(() => existsSync(exported)).toBe(true);
    expect(readFileSync(exported, 'utf8')).toBe(cli(['export', inFolder, '--format', 'jsonl']));
    expect(existsSync(outside)).toBe(false); // nothing written anywhere else
  });

  test('drops: a scenario records and the UI follows it, a trace imports and opens, anything else is refused', async () => {
    const page = await app!.firstWindow();
    await stubDialogs(app!, {});
    const scenario = join(profile, 'dropped.yaml');
    writeFileSync(scenario, 'name: dropped scenario\nvms:\n  - vcpus: 1\n    guest: { workload: { kind: demand-paging, pages: 32 } }\n    mmu: { mode: shadow }\n');
    await drop(app!, scenario);
    await expect(page.getByTestId('session-title')).toHaveText('dropped scenario');

    const trace = join(root, 'sessions', 'import', 'fixtures', 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt');
    await drop(app!, trace);
    await expect(page.getByTestId('session-file')).toHaveText('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.mmulab');

    await drop(app!, join(profile, 'tool.exe'));
    await drop(app!, 'relative/path.mmulab');
    await expect
      .poll(() => app!.evaluate(() => (globalThis as { shownMessages?: Array<{ message: string; detail?: string }> }).shownMessages ?? []))
      .toEqual([
        { message: 'MMU Lab cannot open this file', detail: expect.stringContaining('tool.exe is not a file MMU Lab opens') },
        { message: 'MMU Lab cannot open this file', detail: '"relative/path.mmulab" is not an absolute path' },
      ]);
  });

  test('the task bar shows progress while a run records and clears it after', async () => {
    const page = await app!.firstWindow();
    await app!.evaluate(({ BrowserWindow }) => {
      const win = BrowserWindow.getAllWindows()[0]!;
      const values: number[] = [];
      (globalThis as { progressValues?: number[] }).progressValues = values;
      const original = win.setProgressBar.bind(win);
      win.setProgressBar = (value: number, options?: Electron.ProgressBarOptions) => {
        values.push(value);
        original(value, options);
      };
    });
    const started = (await page.evaluate(() => (window as unknown as { mmulab: Bridge }).mmulab.call('runs.start', { scenario: { builtin: 'demand-zap' } }))) as { result: Status };
    await expect
      .poll(async () => ((await page.evaluate((id) => (window as unknown as { mmulab: Bridge }).mmulab.call('runs.status', { runId: id }), started.result.runId)) as { result: Status }).result.state)
      .toBe('finished');
    const values = await app!.evaluate(() => (globalThis as { progressValues?: number[] }).progressValues ?? []);
    expect(values).toContain(2); // indeterminate while recording
    expect(values.at(-1)).toBe(-1); // cleared
  });

  test('a window that is not ours cannot call the API, even with our preload', async () => {
    await app!.firstWindow();
    const answer = await app!.evaluate(async ({ BrowserWindow }, preload) => {
      const win = new BrowserWindow({ show: false, webPreferences: { preload, sandbox: true, contextIsolation: true } });
      await win.loadURL('data:text/html,<p>not MMU Lab</p>');
      const result = (await win.webContents.executeJavaScript("window.mmulab.call('sessions.list', {})")) as unknown;
      win.destroy();
      return result;
    }, join(root, 'dist', 'electron', 'preload.cjs'));
    expect(answer).toMatchObject({ ok: false, error: { code: 'bad-request', message: 'refused: the sender is not an MMU Lab window' } });
  });

  test('quitting during a recording finishes the last chunk: the session opens and verifies', async () => {
    const page = await app!.firstWindow();
    const scenario = {
      name: 'long run',
      vms: [0, 1].map(() => ({ vcpus: 1, guest: { workload: { kind: 'kbuild', processes: 4000 } }, mmu: { mode: 'shadow' } })),
    };
    const started = (await page.evaluate((s) => (window as unknown as { mmulab: Bridge }).mmulab.call('runs.start', { scenario: { scenario: s } }), scenario)) as { result: Status };
    await expect
      .poll(async () => ((await page.evaluate((id) => (window as unknown as { mmulab: Bridge }).mmulab.call('runs.status', { runId: id }), started.result.runId)) as { result: Status }).result.events)
      .toBeGreaterThan(1000);
    await app!.close();
    app = undefined;
    const file = join(profile, 'sessions', started.result.sessionId);
    const info = JSON.parse(cli(['info', file, '--json'])) as { complete: boolean; events: number };
    expect(info.complete).toBe(false);
    expect(info.events).toBeGreaterThan(1000);
    const verified = spawnSync(process.execPath, [join(root, 'bin', 'mmu-lab.js'), 'verify', file], { encoding: 'utf8' });
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/recording_stopped/);
  });
  test('a second launch with a session file opens it in the running app (single instance)', async () => {
    const page = await app!.firstWindow();
    await expect(page.getByText('MMU Lab', { exact: true })).toBeVisible();
    const recorded = join(profile, 'second.mmulab');
    cli(['record', 'demand-update', '-o', recorded]);
    const second = spawnSync(binary.path!, [...launchArgs, recorded], {
      env: { ...process.env, MMU_LAB_USER_DATA: profile, MMU_LAB_SESSIONS_DIR: join(profile, 'sessions') },
      timeout: 30_000,
    });
    expect(second.status, 'the second instance hands over and quits').toBe(0);
    await expect(page.getByTestId('session-file')).toHaveText('second.mmulab');
    expect(await app!.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1);
  });
});
