/**
 * Renderer figures on a 1-million-event session, in real Chromium against the built browser
 * host (as `npm start` serves it):
 *
 * - first timeline paint after open: from the click on the session in the list to the
 *   timeline's first draw with data (the `mmulab.timeline.painted` mark), each repetition on a
 *   fresh copy of the file so the host opens it cold;
 * - zoom/pan frame work, p95: per frame of a wheel zoom or drag-like pan, the main-thread time
 *   of the input handler plus the canvas draws of that frame (`mmulab.timeline.draw`
 *   measures); the display's own 16.7 ms vsync is not counted, only our work in it;
 * - breakdown for a new selection: from the breakdown's request to its table updated
 *   (`mmulab.breakdown` measure) after a shift-drag selection on the timeline;
 * - first whole-run timeline: in this process, a fresh reader of the file (its open included)
 *   answering what the app asks first, the whole run's exits in 1000 buckets and its events'
 *   density in 1150 (`sessions.timeline` and `sessions.density`), each repetition on a fresh open.
 *
 * Needs `npm run build` (dist/host/browser-host.mjs and dist/renderer) and /usr/bin/chromium.
 * Size: MMU_BENCH_RENDERER_EVENTS (default 1 000 000). The session file is kept in the system's
 * temporary folder (mmu-renderer-bench-<events>.mmulab) and reused while it is newer than the
 * writer's sources: writing 100 M events takes about a minute.
 */
import { chromium, type Browser, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionWriter } from '../sessions/writer.ts';
import { openSession } from '../sessions/reader.ts';
import { percentile, type Benchmark } from './harness.ts';
import { forEachEvent, kbuildBatch, kbuildScenario } from './sessions.bench.ts';

const EVENTS = Number(process.env.MMU_BENCH_RENDERER_EVENTS ?? 1_000_000);
const OPENS = 5;
const WHOLE_RUNS = 5;
const FRAMES = 120;
const SELECTIONS = 8;
const root = fileURLToPath(new URL('..', import.meta.url));

interface Figures {
  events: number;
  firstPaintMs: number[];
  frameMs: number[];
  breakdownMs: number[];
  wholeRunMs: number[];
}

/** The writer's sources: a kept file older than any of them is written again. */
const WRITER_SOURCES = ['sessions/writer.ts', 'sessions/mipmap.ts', 'sessions/codec.ts', 'sessions/laneEncoder.ts', 'sessions/format.ts'];

/** The session of EVENTS kbuild events, written once into the temporary folder and reused. */
export function keptSession(): { file: string; events: number } {
  const file = join(tmpdir(), `mmu-renderer-bench-${EVENTS}.mmulab`);
  const newest = Math.max(...WRITER_SOURCES.map((f) => statSync(join(root, f)).mtimeMs));
  const opened = existsSync(file) && statSync(file).mtimeMs > newest ? openSession(file).session : undefined;
  if (opened?.complete) return { file, events: opened.eventCount };
  const batch = kbuildBatch();
  const passes = Math.max(1, Math.round(EVENTS / batch.events.length));
  const writer = SessionWriter.create(`${file}.part`, { scenario: kbuildScenario() });
  forEachEvent(batch, (e) => writer.append(e), passes);
  writer.close({ complete: true });
  copyOrLink(`${file}.part`, file, true);
  return { file, events: passes * batch.events.length };
}

/** A second name for the file (a hard link: no copy of a 1 GB file), or a copy where links fail. */
function copyOrLink(from: string, to: string, move = false): void {
  rmSync(to, { force: true });
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
  if (move) rmSync(from, { force: true });
}

/** What the app asks first for the whole run (session-store's overview and the density band), on a fresh reader. */
export function wholeRunTimeline(file: string): number {
  const t0 = performance.now();
  const { session } = openSession(file);
  if (!session) throw new Error(`${file} does not open`);
  session.timeline(session.startNs, session.endNs + 1, 1000);
  session.density(session.startNs, session.endNs + 1, 1150);
  return performance.now() - t0;
}

async function startHost(sessionsDir: string): Promise<{ url: string; child: ChildProcess }> {
  const built = join(root, 'dist', 'host', 'browser-host.mjs');
  if (!existsSync(built) || !existsSync(join(root, 'dist', 'renderer', 'index.html'))) throw new Error('run `npm run build` first (dist/host/browser-host.mjs)');
  const child = spawn(process.execPath, [built, '--port', '0', '--sessions-dir', sessionsDir, '--no-open'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BROWSER: 'none' } });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the browser host did not start within 30 s')), 30_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /MMU Lab browser host: (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`the browser host exited (${code})`)));
  });
  return { url, child };
}

/** Collect user-timing entries of one name from now on (the app clears its buffer, observers still see them). */
async function observe(page: Page, name: string): Promise<void> {
  await page.evaluate((n) => {
    const w = window as unknown as { __benchEntries?: Record<string, PerformanceEntry[]> };
    w.__benchEntries ??= {};
    const list: PerformanceEntry[] = (w.__benchEntries[n] = []);
    new PerformanceObserver((entries) => list.push(...entries.getEntriesByName(n))).observe({ entryTypes: ['mark', 'measure'] });
  }, name);
}

async function openAndTimeFirstPaint(page: Page, url: string, id: string): Promise<number> {
  await page.goto(url);
  await page.locator(`button[data-session-id="${id}"]`).waitFor();
  await observe(page, 'mmulab.timeline.painted');
  return page.evaluate(async (sessionId) => {
    const w = window as unknown as { __benchEntries: Record<string, PerformanceEntry[]> };
    const button = document.querySelector<HTMLButtonElement>(`button[data-session-id="${sessionId}"]`)!;
    const t0 = performance.now();
    button.click();
    for (;;) {
      const mark = w.__benchEntries['mmulab.timeline.painted']!.find((e) => (e as PerformanceMark).detail === sessionId);
      if (mark) return mark.startTime - t0;
      if (performance.now() - t0 > 60_000) throw new Error('no first paint within 60 s');
      await new Promise((r) => setTimeout(r, 2));
    }
  }, id);
}

/** Zoom in and out and pan with wheel events, one per frame; per frame: handler time + that frame's draws. */
async function frameWork(page: Page): Promise<number[]> {
  await observe(page, 'mmulab.timeline.draw');
  return page.evaluate(async (frames) => {
    const w = window as unknown as { __benchEntries: Record<string, PerformanceEntry[]> };
    const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="timeline-canvas"]')!;
    const rect = canvas.getBoundingClientRect();
    const out: number[] = [];
    const nextFrame = () => new Promise<number>((r) => requestAnimationFrame(r));
    for (let i = 0; i < frames; i++) {
      await nextFrame();
      const before = w.__benchEntries['mmulab.timeline.draw']!.length;
      const phase = Math.floor(i / 20) % 3;
      const init: WheelEventInit = { bubbles: true, cancelable: true, clientX: rect.left + rect.width * (0.3 + 0.4 * ((i % 20) / 20)), clientY: rect.top + rect.height / 2 };
      if (phase === 0) init.deltaY = -120; // zoom in
      else if (phase === 1) init.deltaX = 60; // pan
      else init.deltaY = 100; // zoom out
      const t0 = performance.now();
      canvas.dispatchEvent(new WheelEvent('wheel', init));
      const handler = performance.now() - t0;
      await nextFrame(); // our draw runs in this frame (scheduled by the handler before this callback)
      await new Promise((r) => setTimeout(r, 0));
      const draws = w.__benchEntries['mmulab.timeline.draw']!.slice(before).reduce((a, e) => a + e.duration, 0);
      out.push(handler + draws);
    }
    // Let late data (one query per settled window) draw too, and count those frames.
    await new Promise((r) => setTimeout(r, 300));
    return out;
  }, FRAMES);
}

async function breakdownLatency(page: Page): Promise<number[]> {
  await page.getByRole('tab', { name: 'Breakdown' }).click();
  await page.getByTestId('breakdown-table').waitFor();
  await page.getByRole('button', { name: 'Whole run' }).first().click();
  await observe(page, 'mmulab.breakdown');
  const box = (await page.getByTestId('timeline-canvas').boundingBox())!;
  const y = box.y + box.height / 2;
  const out: number[] = [];
  for (let i = 0; i < SELECTIONS; i++) {
    const a = 0.15 + 0.08 * i;
    const before = await page.evaluate(() => (window as unknown as { __benchEntries: Record<string, PerformanceEntry[]> }).__benchEntries['mmulab.breakdown']!.length);
    await page.keyboard.down('Shift');
    await page.mouse.move(box.x + box.width * a, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * (a + 0.1 + 0.03 * i), y, { steps: 3 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    // The last measure after this selection settles is the one for the final range.
    await page.waitForFunction((n) => (window as unknown as { __benchEntries: Record<string, PerformanceEntry[]> }).__benchEntries['mmulab.breakdown']!.length > n, before);
    await page.waitForTimeout(150);
    const d = await page.evaluate(() => {
      const list = (window as unknown as { __benchEntries: Record<string, PerformanceEntry[]> }).__benchEntries['mmulab.breakdown']!;
      return list[list.length - 1]!.duration;
    });
    out.push(d);
  }
  return out;
}

let measured: Promise<Figures> | undefined;
function measureAll(): Promise<Figures> {
  measured ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmu-renderer-bench-'));
    let host: { url: string; child: ChildProcess } | undefined;
    let browser: Browser | undefined;
    try {
      const kept = keptSession();
      const events = kept.events;
      // each open is of another name, so the host opens it cold (hard links: the bytes once)
      for (let i = 0; i < OPENS; i++) copyOrLink(kept.file, join(dir, `million-${i}.mmulab`));
      const wholeRunMs: number[] = [];
      for (let i = 0; i < WHOLE_RUNS; i++) wholeRunMs.push(wholeRunTimeline(kept.file));
      host = await startHost(dir);
      browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      // tsx keeps function names with a `__name` helper that the page does not have.
      await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
      const firstPaintMs: number[] = [];
      for (let i = 0; i < OPENS; i++) firstPaintMs.push(await openAndTimeFirstPaint(page, host.url, `million-${i}.mmulab`));
      const frameMs = await frameWork(page);
      const breakdownMs = await breakdownLatency(page);
      const figures = { events, firstPaintMs, frameMs, breakdownMs, wholeRunMs };
      process.stderr.write(`renderer: ${JSON.stringify({ events, firstPaintMs, frameP95: percentile(frameMs, 95), breakdownMs, wholeRunMs })}\n`);
      return figures;
    } finally {
      await browser?.close();
      host?.child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return measured;
}

/** A run() that hands out the samples taken in `measureAll`, one per repetition (so min/median/max are theirs). */
function samples(pick: (f: Figures) => number[]): () => Promise<number> {
  let i = 0;
  return async () => {
    const list = pick(await measureAll());
    return list[i++ % list.length]!;
  };
}

export function benchmarks(): Benchmark[] {
  const label = `${(EVENTS / 1e6).toFixed(EVENTS % 1e6 ? 1 : 0)} M events`;
  return [
    {
      name: 'renderer.first-paint',
      group: 'renderer',
      figure: { name: `first timeline paint after open (cold host open), ${label}`, unit: 'ms', better: 'lower', budget: 1000 },
      run: samples((f) => f.firstPaintMs),
      warmup: 0,
      repetitions: OPENS,
    },
    {
      name: 'renderer.frame-p95',
      group: 'renderer',
      figure: { name: `zoom/pan frame work p95, ${label}`, unit: 'ms', better: 'lower', budget: 16 },
      run: async () => percentile((await measureAll()).frameMs, 95),
      warmup: 0,
      repetitions: 1,
    },
    {
      name: 'renderer.whole-run-timeline',
      group: 'renderer',
      figure: { name: `first whole-run timeline (fresh open, exits and density), ${label}`, unit: 'ms', better: 'lower', budget: 300 },
      run: samples((f) => f.wholeRunMs),
      warmup: 0,
      repetitions: WHOLE_RUNS,
    },
    {
      name: 'renderer.breakdown',
      group: 'renderer',
      figure: { name: `breakdown for a new selection, ${label}`, unit: 'ms', better: 'lower', budget: 100 },
      run: samples((f) => f.breakdownMs),
      warmup: 0,
      repetitions: SELECTIONS,
    },
  ];
}
