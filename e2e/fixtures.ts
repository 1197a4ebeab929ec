/**
 * Fixtures for the browser-host suite.
 *
 * - `lab`: a browser host of its own for each test (random port, fresh temp sessions folder),
 *   started as users start it (`browserHostMain.ts` under tsx) and stopped afterwards; gives
 *   the tokenized URL and a way to record sessions with the real CLI into its folder.
 * - `app`: a page-object over the loaded app that fails the test on any `pageerror` or
 *   console error.
 */
import { test as base, expect, type ConsoleMessage, type Page } from '@playwright/test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** Run the project's CLI (`mmu-lab`, the package's bin) and return its stdout; throws with stderr on failure. */
export function mmuLab(args: string[], options: { maxBuffer?: number } = {}): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const bin = join(root, pkg.bin['mmu-lab'] ?? 'bin/mmu-lab.js');
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', maxBuffer: options.maxBuffer ?? 512 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`mmu-lab ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`);
  return result.stdout;
}

/** A session's events as `mmu-lab export --format jsonl` prints them, one object a line (each spec names the fields it reads). */
export function exportEvents<T>(file: string): T[] {
  return mmuLab(['export', file, '--format', 'jsonl']).split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

export interface Lab {
  /** The URL the host printed, with its token. */
  url: string;
  /** Same origin, no token. */
  origin: string;
  sessionsDir: string;
  /** Record a built-in scenario with the CLI into the sessions folder; returns the file's path. */
  record(builtin: string, fileName?: string): string;
  /** Stop the host now (to see how the app copes with losing it). */
  stop(): Promise<void>;
  /** Send the host process a signal (SIGUSR2 runs the test-only hook: kill VM 1's worker in live runs). */
  signal(signal: NodeJS.Signals): void;
}

async function startHost(sessionsDir: string, extraEnv: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'electron/host/browserHostMain.ts', '--port', '0', '--sessions-dir', sessionsDir, '--no-open'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Test hooks (browserHostMain.ts): SIGUSR2 kills VM 1's worker, for the failure e2e test.
    env: { ...process.env, BROWSER: 'none', MMU_LAB_TEST_HOOKS: '1', MMU_LAB_TEST_KILL_VM: '1', ...extraEnv },
  });
  let out = '';
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the browser host did not print its URL within 30 s\n${err}`)), 30_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /MMU Lab browser host: (\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the browser host exited (${code ?? signal}) before printing its URL\n${err}`));
    });
  });
  return { url, child, stderr: () => err };
}

async function stopHost(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** The app as a user sees it, with helpers that wait on the UI rather than sleep. */
export class AppPage {
  readonly errors: string[] = [];
  constructor(readonly page: Page) {
    page.on('pageerror', (error) => this.errors.push(`pageerror: ${error.message}`));
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() === 'error') this.errors.push(`console error: ${message.text()}`);
    });
  }

  async goto(url: string): Promise<void> {
    await this.page.goto(url);
    await expect(this.page.getByText('MMU Lab', { exact: true })).toBeVisible();
  }

  /** The sidebar's button for a session, by its id (the file name). */
  sessionButton(id: string) {
    return this.page.getByRole('navigation', { name: 'Sessions' }).locator(`button[data-session-id="${id}"]`);
  }

  async openSession(id: string): Promise<void> {
    await this.sessionButton(id).click();
    await this.waitForIdle();
  }

  /** Go to event `index` as a user does: its number in the Go-to box, then the button. */
  async gotoEvent(index: number): Promise<void> {
    await this.page.getByTestId('goto-event').fill(String(index));
    await this.page.getByRole('button', { name: 'Go to the event' }).click();
  }

  /** Session `id`, opened afresh at `url`, at event `index` in the page-table view: as the Picture unless `picture` is false. */
  async pageTablesAt(url: string, id: string, index: number, picture = true): Promise<void> {
    await this.goto(url);
    await this.openSession(id);
    await this.gotoEvent(index);
    await this.page.getByRole('tab', { name: 'Page tables' }).click();
    if (picture) await this.page.getByRole('radio', { name: 'Picture' }).check();
  }

  /** The session is open and its whole-run timeline has loaded. */
  async waitForIdle(): Promise<void> {
    await expect(this.page.getByTestId('exit-count')).toHaveText(/^[\d,]+$/);
    await expect(this.page.getByTestId('exits-in-view')).toHaveText(/^[\d,]+ exits? in view$/);
    await expect(this.page.getByTestId('event-table')).toBeVisible();
  }

  get position() {
    return this.page.getByTestId('position');
  }

  /**
   * Select a time range as a user does: shift-drag across a timeline canvas (the first one
   * unless given) from `from` to `to`, as fractions of its width, at `height` of its height.
   */
  async selectRange(from: number, to: number, canvas = this.page.getByTestId('timeline-canvas').first(), height = 0.5): Promise<void> {
    const box = (await canvas.boundingBox())!;
    const y = box.y + box.height * height;
    await this.page.keyboard.down('Shift');
    await this.page.mouse.move(box.x + box.width * from, y);
    await this.page.mouse.down();
    await this.page.mouse.move(box.x + box.width * to, y, { steps: 6 });
    await this.page.mouse.up();
    await this.page.keyboard.up('Shift');
  }

  expectNoErrors(): void {
    expect(this.errors, 'no page errors or console errors').toEqual([]);
  }
}

export const test = base.extend<{ lab: Lab; app: AppPage; hostEnv: Record<string, string> }>({
  /** More environment for the browser host of a test (`test.use({ hostEnv: {...} })`), e.g. a test hook. */
  hostEnv: [{}, { option: true }],
  lab: async ({ hostEnv }, use, testInfo) => {
    const sessionsDir = mkdtempSync(join(tmpdir(), 'mmulab-e2e-'));
    const host = await startHost(sessionsDir, hostEnv);
    const origin = new URL(host.url).origin;
    try {
      await use({
        url: host.url,
        origin,
        sessionsDir,
        record(builtin, fileName = `${builtin}.mmulab`) {
          const file = join(sessionsDir, fileName);
          mmuLab(['record', builtin, '-o', file]);
          return file;
        },
        stop: () => stopHost(host.child),
        signal: (signal) => void host.child.kill(signal),
      });
    } finally {
      await stopHost(host.child);
      if (testInfo.status !== testInfo.expectedStatus) await testInfo.attach('browser-host stderr', { body: host.stderr(), contentType: 'text/plain' });
      rmSync(sessionsDir, { recursive: true, force: true });
    }
  },
  // The host (lab) must outlive this check: torn down first, it would leave the page's
  // reconnect attempt (ERR_CONNECTION_REFUSED) among the console errors, a race that loses under load.
  app: async ({ page, lab }, use) => {
    void lab;
    const app = new AppPage(page);
    await use(app);
    // (d) no test may leave a page error or a console error behind.
    app.expectNoErrors();
  },
});

export { expect };
