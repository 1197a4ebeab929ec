/**
 * The Electron main process: one window, the renderer served from our own files through the
 * `app://mmulab` protocol, and the one API over IPC through a single wrapped registration that
 * checks the sender and validates every message before the shared host service sees it.
 *
 * Security (Electron's checklist): context isolation, sandbox, no Node integration, web
 * security on, a strict CSP on every response, navigation and new windows denied (https links
 * open in the user's browser), permission requests denied, no webviews, single instance.
 */
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  protocol,
  screen,
  session,
  shell,
  type IpcMainInvokeEvent,
  type MenuItemConstructorOptions,
} from 'electron';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ApiError, IPC_DROP_CHANNEL, IPC_EVENT_CHANNEL, IPC_LISTEN_CHANNEL, type EventMessage, type RunStatus, type SessionSummary } from '../api/contract.ts';
import { adoptLegacyData, dataDirs, HOME_ENV } from '../../sessions/dataDirs.ts';
import { HostService } from '../host/hostService.ts';
import { toWireError } from '../host/wireRequests.ts';
import { classifyShellFile, EXPORT_FORMATS, exportSession, importTraceFile, startScenarioFile } from '../host/shellFiles.ts';
import { electronPrintToPdf } from './printPdf.ts';
import { contentSecurityPolicy, contentType, resolveStaticFile } from '../host/security.ts';
import { createIpcHandler, ipcChannels } from './ipc.ts';
import { APP_HOST, APP_ORIGIN, APP_SCHEME, senderProblem } from './senderCheck.ts';
import { MIN_WINDOW, placeWindow, type WindowState } from './windowState.ts';
import { MAX_RECENT, parseRecentList } from './recentFiles.ts';

const isDev = !app.isPackaged && !!process.env.MMU_LAB_DEV_URL;
const devUrl = isDev ? new URL(process.env.MMU_LAB_DEV_URL!) : undefined;
const rendererDir = join(__dirname, '..', 'renderer');
const CSP = contentSecurityPolicy();

// Where the data lives (sessions/dataDirs.ts): the same folders as the CLI and the browser host.
// Tests and power users may move Electron's profile elsewhere (then the settings go with it);
// with $MMU_LAB_HOME, Electron's own profile stays inside that folder too.
const dirs = dataDirs();
if (process.env.MMU_LAB_USER_DATA) app.setPath('userData', process.env.MMU_LAB_USER_DATA);
else if (process.env[HOME_ENV]) app.setPath('userData', join(dirs.config, 'electron'));
const settingsDir = process.env.MMU_LAB_USER_DATA ? app.getPath('userData') : dirs.config;

// `mmu-lab --version` of the installed app prints the version and starts nothing (the packaging
// test runs it; installers and scripts ask it).
const versionOnly = process.argv.slice(1).includes('--version');
if (versionOnly) {
  process.stdout.write(`${app.getVersion()}\n`);
  app.exit(0);
}

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true } }]);

if (versionOnly) {
  // exiting
} else if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void main();
}

const windows = new Set<BrowserWindow>();
const knownWebContents = new Set<number>();
const allowedOrigins = new Set<string>([APP_ORIGIN, ...(devUrl ? [devUrl.origin] : [])]);

async function main(): Promise<void> {
  app.enableSandbox();
  await app.whenReady();

  if (!process.env.MMU_LAB_USER_DATA) for (const line of adoptLegacyData()) console.log(line);
  const sessionsDir = dirs.sessions;
  const service = new HostService({ sessionsDir, host: 'electron', version: app.getVersion(), printPdf: electronPrintToPdf, pickSessionFile });

  serveRendererFiles();
  hardenSession();
  registerIpc(service);
  registerDrop();
  service.onEvent((message) => {
    for (const win of windows) if (!win.isDestroyed()) deliver(win.webContents.id, message);
  });
  registerListenSignal();
  shell_ = { service, recent: loadRecent() };
  refreshMenu();
  trackRunProgress(service);

  createWindow();
  // A .mmulab given on the command line (file association): its open request waits until the
  // UI listens for it (see `deliver`).
  const initial = sessionFileArg(process.argv);
  if (initial) openSessionFile(initial);
  for (const path of pendingOpenFiles.splice(0)) openSessionFile(path);

  app.on('second-instance', (_event, argv) => {
    const [win] = windows;
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
    const file = sessionFileArg(argv);
    if (file) openSessionFile(file);
  });
  app.on('activate', () => {
    if (windows.size === 0) createWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  // Finish the last chunk of every recording before quitting.
  let closed = false;
  app.on('before-quit', (event) => {
    if (closed) return;
    event.preventDefault();
    void service.close().finally(() => {
      closed = true;
      app.quit();
    });
  });
}

// ---- Files the user gives us: File → Open, Open Recent, the OS (association, second launch) ----

interface ShellState {
  service: HostService;
  recent: string[];
}
let shell_: ShellState | undefined;
/** macOS may deliver 'open-file' before the app is ready. */
const pendingOpenFiles: string[] = [];

app.on('open-file', (event, path) => {
  event.preventDefault();
  if (shell_ && windows.size > 0) openSessionFile(path);
  else pendingOpenFiles.push(path);
});

function sessionFileArg(argv: string[]): string | undefined {
  return argv.slice(1).find((a) => !a.startsWith('-') && a.toLowerCase().endsWith('.mmulab'));
}

function recentPath(): string {
  return join(settingsDir, 'recent.json');
}

function loadRecent(): string[] {
  try {
    return parseRecentList(readFileSync(recentPath(), 'utf8'));
  } catch {
    return [];
  }
}

function rememberRecent(path: string): void {
  if (!shell_) return;
  shell_.recent = [path, ...shell_.recent.filter((p) => p !== path)].slice(0, MAX_RECENT);
  try {
    mkdirSync(settingsDir, { recursive: true });
    writeFileSync(recentPath(), JSON.stringify(shell_.recent));
  } catch {
    // the list is a convenience
  }
  app.addRecentDocument(path);
  refreshMenu();
}

/** Import a session file into the sessions folder and ask the UI to open it; errors go to a dialog. */
function openSessionFile(path: string): void {
  if (!shell_) return;
  try {
    const id = shell_.service.importSession(path);
    rememberRecent(join(shell_.service.sessionsDir, id));
  } catch (error) {
    const [win] = windows;
    const options = { type: 'error' as const, title: 'MMU Lab', message: `Could not open ${path}`, detail: toWireError(error).message };
    void (win ? dialog.showMessageBox(win, options) : dialog.showMessageBox(options));
  }
}

/**
 * The task bar's progress: a trace import shows its fraction; otherwise any run recording
 * shows as indeterminate; nothing going on clears it.
 */
const activeRuns = new Set<string>();
let importFraction: number | undefined;
function showProgress(): void {
  const value = importFraction !== undefined ? importFraction : activeRuns.size > 0 ? 2 : -1; // 2 = indeterminate
  for (const win of windows) if (!win.isDestroyed()) win.setProgressBar(value);
}

function trackRunProgress(service: HostService): void {
  service.onEvent((message) => {
    if (message.event !== 'runs.progress') return;
    const status = message.payload as RunStatus;
    if (status.state === 'running' || status.state === 'paused') activeRuns.add(status.runId);
    else activeRuns.delete(status.runId);
    showProgress();
  });
}

function showError(message: string, error: unknown): void {
  const [win] = windows;
  const options = { type: 'error' as const, title: 'MMU Lab', message, detail: toWireError(error).message };
  void (win ? dialog.showMessageBox(win, options) : dialog.showMessageBox(options));
}

/** A file the user gave us (drop, dialog): a session opens, a scenario records, a trace imports. */
async function openShellFile(path: unknown): Promise<void> {
  const file = classifyShellFile(path);
  if (!shell_) return;
  if (!file.ok) return showError('MMU Lab cannot open this file', new Error(file.problem));
  if (file.kind === 'session') return openSessionFile(file.path);
  if (file.kind === 'scenario') {
    // The UI follows the new run from its progress events.
    await startScenarioFile(shell_.service, file.path).catch((error: unknown) => showError(`Could not record ${basename(file.path)}`, error));
    return;
  }
  await importTrace(file.path);
}

async function importTrace(path: string): Promise<void> {
  if (!shell_) return;
  importFraction = 0;
  showProgress();
  try {
    const id = await importTraceFile(shell_.service, path, (p) => {
      importFraction = p.fraction;
      showProgress();
    });
    rememberRecent(join(shell_.service.sessionsDir, id));
  } catch (error) {
    showError(`Could not import ${basename(path)}`, error);
  } finally {
    importFraction = undefined;
    showProgress();
  }
}

async function pickAndOpen(title: string, filters: Array<{ name: string; extensions: string[] }>): Promise<void> {
  const [win] = windows;
  const options = { title, properties: ['openFile' as const], filters };
  const result = await (win ? dialog.showOpenDialog(win, options) : dialog.showOpenDialog(options));
  const [path] = result.filePaths;
  if (!result.canceled && path) await openShellFile(path);
}

/** The UI's Open session… (`sessions.pick`): the system's Open dialog, sessions only; the path never passes the renderer. */
async function pickSessionFile(): Promise<string | undefined> {
  const win = BrowserWindow.getFocusedWindow() ?? [...windows][0];
  const options = { title: 'Open a session', properties: ['openFile' as const], filters: [{ name: 'MMU Lab sessions', extensions: ['mmulab'] }] };
  const result = await (win ? dialog.showOpenDialog(win, options) : dialog.showOpenDialog(options));
  const [path] = result.filePaths;
  if (result.canceled || !path) return undefined;
  const file = classifyShellFile(path);
  if (!file.ok || file.kind !== 'session') throw new ApiError('bad-request', file.ok ? `${basename(path)} is not a session file (.mmulab)` : file.problem);
  return file.path;
}

/** The session each window has open, as it last asked for it (`sessions.open` over IPC). */
const openSessionOf = new Map<number, string>();

function focusedSession(): string | undefined {
  const win = BrowserWindow.getFocusedWindow() ?? [...windows][0];
  return win ? openSessionOf.get(win.webContents.id) : undefined;
}

/** Save As / Export: the destination comes from the save dialog, never from the renderer. */
async function saveSessionAs(defaultExtension: string): Promise<void> {
  if (!shell_) return;
  const id = focusedSession();
  const [win] = windows;
  if (!id) {
    const options = { type: 'info' as const, title: 'MMU Lab', message: 'Open a session first', detail: 'Save As and Export write the session that is open in the window.' };
    void (win ? dialog.showMessageBox(win, options) : dialog.showMessageBox(options));
    return;
  }
  const first = EXPORT_FORMATS.find((f) => (f.extensions as readonly string[]).includes(defaultExtension)) ?? EXPORT_FORMATS[0];
  const filters = [first, ...EXPORT_FORMATS.filter((f) => f !== first)].map((f) => ({ name: f.name, extensions: [...f.extensions] }));
  const options = { title: defaultExtension === 'mmulab' ? 'Save the session as' : 'Export the session', defaultPath: id.replace(/\.mmulab$/, `.${defaultExtension}`), filters };
  const result = await (win ? dialog.showSaveDialog(win, options) : dialog.showSaveDialog(options));
  if (result.canceled || !result.filePath) return;
  await exportSession(shell_.service, id, result.filePath).catch((error: unknown) => showError(`Could not write ${basename(result.filePath!)}`, error));
}

function refreshMenu(): void {
  if (shell_) Menu.setApplicationMenu(buildMenu(shell_.service, shell_.recent));
}

/** app://mmulab/<path> serves files from dist/renderer only, each with the CSP. */
function serveRendererFiles(): void {
  protocol.handle(APP_SCHEME, (request) => {
    const url = new URL(request.url);
    const file = url.host === APP_HOST ? resolveStaticFile(rendererDir, url.pathname) : undefined;
    if (!file) return new Response('Not found', { status: 404, headers: { 'Content-Type': 'text/plain' } });
    return new Response(readFileSync(file), {
      status: 200,
      headers: { 'Content-Type': contentType(file), 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff' },
    });
  });
}

function hardenSession(): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.on('will-download', (event) => event.preventDefault());
  // The dev server's responses get our CSP too (with the inline styles its hot reload needs).
  const devCsp = contentSecurityPolicy([], { devServer: true });
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [isDev ? devCsp : CSP] } });
  });
}

/** The one wrapped ipcMain: a channel per API method, generated from the contract table (see ipc.ts). */
function registerIpc(service: HostService): void {
  const policy = { knownWebContents, allowedOrigins };
  for (const { channel, method } of ipcChannels()) {
    const handler = createIpcHandler(method, (m, p) => service.dispatch(m, p), policy);
    ipcMain.handle(channel, async (event: IpcMainInvokeEvent, params: unknown) => {
      const response = await handler(event, params);
      // Save As / Export act on the session the window shows.
      if (method === 'sessions.open' && response.ok) openSessionOf.set(event.sender.id, (response.result as SessionSummary).id);
      return response;
    });
  }
}

// ---- Events to windows. An open request sent before the UI subscribed would be lost (a file
// given at launch), so those wait per window until its preload reports a listener. ----

const QUEUED_UNTIL_LISTENED = new Set(['sessions.openRequested']);
const listening = new Map<number, Set<string>>();
const waiting = new Map<number, EventMessage[]>();

function deliver(webContentsId: number, message: EventMessage): void {
  const win = [...windows].find((w) => !w.isDestroyed() && w.webContents.id === webContentsId);
  if (!win) return;
  if (QUEUED_UNTIL_LISTENED.has(message.event) && !listening.get(webContentsId)?.has(message.event)) {
    const queue = waiting.get(webContentsId) ?? [];
    queue.push(message);
    waiting.set(webContentsId, queue.slice(-10));
    return;
  }
  win.webContents.send(IPC_EVENT_CHANNEL, message);
}

function registerListenSignal(): void {
  ipcMain.on(IPC_LISTEN_CHANNEL, (event, name: unknown) => {
    if (senderProblem(event, { knownWebContents, allowedOrigins }) || typeof name !== 'string') return;
    const id = event.sender.id;
    const set = listening.get(id) ?? new Set<string>();
    set.add(name);
    listening.set(id, set);
    const queue = waiting.get(id) ?? [];
    waiting.set(id, queue.filter((m) => m.event !== name));
    for (const message of queue) if (message.event === name) deliver(id, message);
  });
}

/**
 * A file dropped on the window (session, scenario or trace): the same sender check as the API,
 * then the path is checked like any untrusted input (shellFiles.classifyShellFile) before the
 * same handling as File → Open.
 */
function registerDrop(): void {
  ipcMain.on(IPC_DROP_CHANNEL, (event, path: unknown) => {
    if (senderProblem(event, { knownWebContents, allowedOrigins })) return;
    void openShellFile(path);
  });
}

function windowStatePath(): string {
  return join(settingsDir, 'window-state.json');
}

/** The saved size and place, checked against the displays attached now (see windowState.ts). */
function loadWindowState(): WindowState {
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(windowStatePath(), 'utf8'));
  } catch {
    // first start, or a damaged file: the defaults
  }
  return placeWindow(saved, screen.getAllDisplays().map((d) => d.workArea));
}

function saveWindowState(win: BrowserWindow): void {
  try {
    const bounds = win.getNormalBounds();
    mkdirSync(settingsDir, { recursive: true });
    writeFileSync(windowStatePath(), JSON.stringify({ ...bounds, maximized: win.isMaximized() }));
  } catch {
    // not worth failing a close over
  }
}

function createWindow(): BrowserWindow {
  const state = loadWindowState();
  const win = new BrowserWindow({
    ...state,
    minWidth: MIN_WINDOW.width,
    minHeight: MIN_WINDOW.height,
    title: 'MMU Lab',
    show: false,
    backgroundColor: '#1e1e1e',
    webPreferences: {
      preload: join(__dirname, 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      // Middle-click would otherwise ask for a new window (denied anyway by the window-open handler).
      disableBlinkFeatures: 'Auxclick',
    },
  });
  if (state.maximized) win.maximize();
  windows.add(win);
  const id = win.webContents.id;
  knownWebContents.add(id);
  win.once('ready-to-show', () => win.show());
  // A reloaded page has no listeners until its preload says so again.
  win.webContents.on('did-start-loading', () => listening.delete(id));
  win.on('close', () => saveWindowState(win));
  win.on('closed', () => {
    windows.delete(win);
    knownWebContents.delete(id);
    listening.delete(id);
    waiting.delete(id);
    openSessionOf.delete(id);
  });
  void win.loadURL(devUrl ? devUrl.href : `${APP_ORIGIN}/index.html`);
  return win;
}

/** Every web contents, whatever created it: no navigation away, no new windows, no webviews. */
app.on('web-contents-created', (_event, contents) => {
  // The renderer is a single page: it never navigates, so any navigation is refused.
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event, url) => {
    const target = safeUrl(url);
    if (!target || !allowedOrigins.has(originOf(target))) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    const target = safeUrl(url);
    if (target && target.protocol === 'https:') void shell.openExternal(target.href);
    return { action: 'deny' };
  });
});

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

function originOf(url: URL): string {
  return url.protocol === `${APP_SCHEME}:` ? `${APP_SCHEME}://${url.host}` : url.origin;
}

/** The user guide: shipped as a resource beside the asar when packaged, in docs/ otherwise. */
function docsPath(): string {
  return app.isPackaged ? join(process.resourcesPath, 'docs', 'guide.md') : join(app.getAppPath(), 'docs', 'guide.md');
}

function buildMenu(service: HostService, recent: string[]): Menu {
  const isMac = process.platform === 'darwin';
  const recentItems: MenuItemConstructorOptions[] = recent.length
    ? [
        ...recent.map((path) => ({ label: path, click: () => openSessionFile(path) })),
        { type: 'separator' as const },
        {
          label: 'Clear Recent',
          click: () => {
            if (shell_) shell_.recent = [];
            try {
              writeFileSync(recentPath(), '[]');
            } catch {
              // ignore
            }
            app.clearRecentDocuments();
            refreshMenu();
          },
        },
      ]
    : [{ label: 'No recent sessions', enabled: false }];
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: '&File',
      submenu: [
        {
          id: 'open',
          label: 'Open Session…',
          accelerator: 'CmdOrCtrl+O',
          click: () => void pickAndOpen('Open a session', [{ name: 'MMU Lab sessions', extensions: ['mmulab'] }]),
        },
        { id: 'open-recent', label: 'Open Recent', submenu: recentItems },
        {
          id: 'record-scenario',
          label: 'Record Scenario File…',
          accelerator: 'CmdOrCtrl+Shift+O',
          click: () => void pickAndOpen('Record a scenario file', [{ name: 'Scenarios (JSON or YAML)', extensions: ['json', 'yaml', 'yml'] }]),
        },
        {
          id: 'import-trace',
          label: 'Import Trace…',
          accelerator: 'CmdOrCtrl+I',
          click: () =>
            void pickAndOpen('Import a KVM trace (trace.dat, trace-cmd report, ftrace or perf script text)', [
              { name: 'Traces', extensions: ['dat', 'txt', 'trace', 'report', 'log', 'perf', 'out'] },
              { name: 'All files', extensions: ['*'] },
            ]),
        },
        { type: 'separator' },
        { id: 'save-as', label: 'Save Session As…', accelerator: 'CmdOrCtrl+Shift+S', click: () => void saveSessionAs('mmulab') },
        { id: 'export', label: 'Export Session…', accelerator: 'CmdOrCtrl+E', click: () => void saveSessionAs('jsonl') },
        { type: 'separator' },
        { id: 'show-sessions', label: 'Show Sessions Folder', click: () => void shell.openPath(service.sessionsDir) },
        { type: 'separator' },
        { id: 'close', role: 'close', label: 'Close Window', accelerator: 'CmdOrCtrl+W' },
        ...(isMac ? [] : [{ role: 'quit' as const, accelerator: 'CmdOrCtrl+Q' }]),
      ],
    },
    { role: 'editMenu' },
    {
      label: '&View',
      submenu: [
        // Reload and the developer tools only in development: a reload would drop the UI's state.
        ...(isDev ? ([{ role: 'reload' }, { role: 'forceReload' }, { role: 'toggleDevTools' }, { type: 'separator' }] as MenuItemConstructorOptions[]) : []),
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    {
      role: 'help',
      submenu: [{ id: 'docs', label: 'MMU Lab Documentation', click: () => void shell.openPath(docsPath()) }],
    },
  ];
  return Menu.buildFromTemplate(template);
}
