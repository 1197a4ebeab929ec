/**
 * Session figures on a synthetic 10-million-event session made of the kbuild workload's real
 * events (1 M recorded once, written ten times shifted in time), beside a JSONL + gzip baseline
 * of the same events written in the same run. Reader figures come from a fresh process.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { createVm } from '../core/engine.ts';
import { findBuiltin } from '../core/builtins.ts';
import { parseScenario, type Scenario } from '../core/scenario.ts';
import { eventToJson, type MmuEvent } from '../core/events.ts';
import { SessionWriter } from '../sessions/writer.ts';
import { appendKeyframes } from '../sessions/annex.ts';
import { openSession, type SessionReader } from '../sessions/reader.ts';
import { diffView } from '../sessions/views.ts';
import { renderReportAsync } from '../sessions/report/html.ts';
import type { Benchmark } from './harness.ts';

const BATCH = 1_000_000;
const PASSES = Number(process.env.MMU_BENCH_SESSION_PASSES ?? 10);
const TOTAL = BATCH * PASSES;

export function kbuildScenario(): Scenario {
  const builtin = findBuiltin('kbuild-update');
  if (!builtin) throw new Error('no built-in kbuild-update');
  const input = structuredClone(builtin.scenario);
  const workload = input.vms[0]!.guest.workload;
  if (workload.kind === 'kbuild') workload.iterations = 1000;
  const parsed = parseScenario(input);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/** The first BATCH events of a long kbuild run, and the time span they cover. */
export function kbuildBatch(): { events: MmuEvent[]; span: number } {
  const vm = createVm(kbuildScenario(), 0, { maxEvents: BATCH });
  const events: MmuEvent[] = [];
  while (events.length < BATCH && vm.step((e) => events.push(e)));
  if (events.length < BATCH) throw new Error(`kbuild gave only ${events.length} events`);
  events.length = BATCH;
  let span = 0;
  for (const e of events) span = Math.max(span, e.t + ('duration' in e ? e.duration : 0));
  return { events, span: span + 1 };
}

/** Every pass re-stamps the batch later in time, so per-lane time never goes back. */
export function forEachEvent(batch: { events: MmuEvent[]; span: number }, visit: (e: MmuEvent) => void, passes = PASSES): void {
  const base = batch.events.map((e) => e.t);
  for (let pass = 0; pass < passes; pass++) {
    const shift = pass * batch.span;
    for (let i = 0; i < base.length; i++) {
      const e = batch.events[i]!;
      e.t = base[i]! + shift;
      visit(e);
    }
  }
  batch.events.forEach((e, i) => (e.t = base[i]!));
}

let cached: { dir: string; file: string; batch: { events: MmuEvent[]; span: number } } | undefined;
function setup() {
  if (!cached) {
    const dir = mkdtempSync(join(tmpdir(), 'mmu-bench-'));
    cached = { dir, file: join(dir, 'kbuild-10m.mmulab'), batch: kbuildBatch() };
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return cached;
}

const figures = { mmulabBytesPerEvent: NaN, jsonlBytesPerEvent: NaN };

function writeSession(): number {
  const { file, batch } = setup();
  const scenario = kbuildScenario();
  const started = performance.now();
  const writer = SessionWriter.create(file, { scenario });
  forEachEvent(batch, (e) => writer.append(e));
  writer.close({ complete: true });
  const seconds = (performance.now() - started) / 1000;
  figures.mmulabBytesPerEvent = statSync(file).size / TOTAL;
  return TOTAL / seconds;
}

/** The keyframe pass a recording ends with (replay in canonical order, KEYF chunks appended). */
function writeKeyframes(): number {
  const { file } = setup();
  const started = performance.now();
  const { session } = openSession(file);
  if (!session) throw new Error('the bench session does not open');
  const n = appendKeyframes(file, session);
  if (n === 0) throw new Error('no keyframes were written');
  const seconds = (performance.now() - started) / 1000;
  figures.mmulabBytesPerEvent = statSync(file).size / TOTAL;
  return TOTAL / seconds;
}

let keyframed = false;
/** The bench session with its keyframes, freshly opened (written first if an earlier bench did not). */
function keyframedSession(): SessionReader {
  const { file } = setup();
  if (!keyframed) {
    if (Number.isNaN(figures.mmulabBytesPerEvent)) writeSession();
    const { session } = openSession(file);
    if (session && session.keyframes.length === 0) writeKeyframes();
    keyframed = true;
  }
  const { session } = openSession(file);
  if (!session) throw new Error('the bench session does not open');
  return session;
}

/** `sessions.diff` over the bench session from event `fromFraction` of it to the last. */
function diffToEnd(fromFraction: number): number {
  const session = keyframedSession();
  const started = performance.now();
  const d = diffView(session, Math.floor(fromFraction * session.eventCount), session.eventCount - 1, 10_000);
  if (d.total === 0) throw new Error('the diff found no change');
  return performance.now() - started;
}

/** The longest the event loop waits while the host makes the whole-session HTML report (renderReportAsync). */
async function reportLongestBlock(): Promise<number> {
  const session = keyframedSession();
  let longest = 0;
  let last = performance.now();
  let done = false;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const html = await renderReportAsync(session, { title: 'bench' });
  done = true;
  longest = Math.max(longest, performance.now() - last);
  if (!html.includes('page-table-diff')) throw new Error('the report has no diff section');
  return longest;
}

async function writeJsonlGzip(): Promise<number> {
  const { dir, batch } = setup();
  const path = join(dir, 'baseline.jsonl.gz');
  const started = performance.now();
  const gzip = createGzip({ level: 6 });
  const out = createWriteStream(path);
  gzip.pipe(out);
  let buffer = '';
  const lines: string[] = [];
  forEachEvent(batch, (e) => {
    lines.push(JSON.stringify(eventToJson(e)));
    if (lines.length === 10_000) {
      buffer = lines.join('\n') + '\n';
      lines.length = 0;
      gzip.write(buffer);
    }
  });
  gzip.end(lines.length ? lines.join('\n') + '\n' : '');
  await once(out, 'finish');
  const seconds = (performance.now() - started) / 1000;
  figures.jsonlBytesPerEvent = statSync(path).size / TOTAL;
  return TOTAL / seconds;
}

export interface ProbeResult {
  events: number;
  openMs: number;
  /** Bytes read by open + first summary, as a percentage of the file (Linux /proc/self/io). */
  openReadPercent?: number;
  seekP99Ms: number;
  countersP99Ms: number;
  stateAtP99Ms: number;
  keyframes: number;
  peakRssMB: number;
  readerRssMB: number;
}

/** Reader figures for `file` from a fresh process (bench/readerProbe.ts). */
export function probeFile(file: string, expectedEvents: number): ProbeResult {
  const out = execFileSync(process.execPath, ['--import', 'tsx', new URL('./readerProbe.ts', import.meta.url).pathname, file, '200'], { encoding: 'utf8' });
  const result = JSON.parse(out.trim().split('\n').pop()!) as ProbeResult;
  if (result.events !== expectedEvents) throw new Error(`the reader found ${result.events} events, the writer wrote ${expectedEvents}`);
  return result;
}

let probe: ProbeResult | undefined;
function readerProbe(): ProbeResult {
  return (probe ??= probeFile(setup().file, TOTAL));
}

export function benchmarks(): Benchmark[] {
  const fresh = () => (probe = undefined);
  return [
    {
      name: 'sessions.write',
      group: 'sessions',
      figure: { name: `write ${TOTAL / 1e6} M kbuild events`, unit: 'events/s', better: 'higher', budget: 2_000_000 },
      run: writeSession,
      baseline: { name: 'JSONL+gzip', run: writeJsonlGzip },
      warmup: 0,
      repetitions: 3,
    },
    {
      name: 'sessions.keyframes',
      group: 'sessions',
      figure: { name: 'keyframe pass at close (replay + KEYF chunks)', unit: 'events/s', better: 'higher' },
      run: writeKeyframes,
      warmup: 0,
      repetitions: 1,
    },
    // sessions.diff from keyframes: the whole session, and a range whose removed entries are searched for backwards
    ...(
      [
        ['sessions.diff-whole', 'page-table diff of the whole session (event 0 .. last)', 0],
        ['sessions.diff-half', 'page-table diff from 55 % of the session to its last event', 0.55],
      ] as const
    ).map(([name, figure, from]): Benchmark => ({ name, group: 'sessions', figure: { name: figure, unit: 'ms', better: 'lower' }, run: () => diffToEnd(from), warmup: 0, repetitions: 1 })),
    {
      name: 'sessions.report-longest-block',
      group: 'sessions',
      figure: { name: 'whole-session HTML report in the host: longest event-loop block', unit: 'ms', better: 'lower' },
      run: reportLongestBlock,
      warmup: 0,
      repetitions: 1,
    },
    {
      name: 'sessions.bytes-per-event',
      group: 'sessions',
      figure: { name: 'bytes per event on disk (with keyframes)', unit: 'B/event', better: 'lower', budget: 16 },
      run: () => figures.mmulabBytesPerEvent,
      baseline: { name: 'JSONL+gzip', run: () => figures.jsonlBytesPerEvent },
      warmup: 0,
      repetitions: 1,
    },
    {
      name: 'sessions.open-to-summary',
      group: 'sessions',
      figure: { name: 'open and first summary (fresh process)', unit: 'ms', better: 'lower', budget: 1500 },
      run: () => (fresh(), readerProbe().openMs),
      warmup: 0,
      repetitions: 3,
    },
    // the other reader figures, read from the same fresh-process probe
    ...(
      [
        ['sessions.open-read-share', 'bytes read by open and first summary, share of the file', '%', undefined, (r) => r.openReadPercent ?? Number.NaN],
        ['sessions.seek-p99', 'seek to a random time + read 100 events, p99', 'ms', 50, (r) => r.seekP99Ms],
        ['sessions.counters-p99', 'counters from start to a random time, p99', 'ms', 100, (r) => r.countersP99Ms],
        ['sessions.state-at-t-p99', 'every page table at a random time (keyframe + replay), p99', 'ms', 100, (r) => r.stateAtP99Ms],
        ['sessions.reader-peak-rss', 'reader process peak RSS', 'MB', 500, (r) => r.peakRssMB],
      ] as const satisfies readonly (readonly [string, string, string, number | undefined, (r: ProbeResult) => number])[]
    ).map(([name, figure, unit, budget, pick]): Benchmark => ({
      name,
      group: 'sessions',
      figure: { name: figure, unit, better: 'lower', budget },
      run: () => pick(readerProbe()),
      warmup: 0,
      repetitions: 1,
    })),
  ];
}
