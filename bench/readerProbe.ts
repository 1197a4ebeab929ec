/**
 * Reader figures in a fresh process, so open time is a real cold open of the file and the
 * memory figure is the reader's own: open + first summary, seeks to random times, the state of
 * every page table at those times, peak RSS, and how much of the file opening read.
 * Prints one JSON line. Usage: node --import tsx bench/readerProbe.ts FILE [SEEKS]
 */
import { readFileSync, statSync } from 'node:fs';
import { openSession } from '../sessions/reader.ts';
import { percentile } from './harness.ts';

const [file, seeksArg] = process.argv.slice(2);
if (!file) throw new Error('usage: readerProbe FILE [SEEKS]');
const seeks = Number(seeksArg ?? 200);

let peakRss = process.memoryUsage().rss;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
const baseRss = peakRss;

/** Bytes this process has read through read(2) so far (Linux); undefined elsewhere. */
function bytesRead(): number | undefined {
  try {
    const m = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const read0 = bytesRead();
const t0 = performance.now();
const { session, diagnostics } = openSession(file);
if (!session) throw new Error(diagnostics.map((d) => d.message).join('; '));
const summary = session.summary();
const openMs = performance.now() - t0;
const read1 = bytesRead();
// the /proc/self/io read itself is counted once: a few hundred bytes
const openReadPercent = read0 === undefined || read1 === undefined ? undefined : ((read1 - read0) / statSync(file).size) * 100;
sampleRss();

// Deterministic random times (LCG) across the whole session.
let x = 12345;
const rand = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const seekMs: number[] = [];
const stateMs: number[] = [];
const stateAtMs: number[] = [];
for (let i = 0; i < seeks; i++) {
  const t = session.startNs + rand() * (session.endNs - session.startNs);
  const s = performance.now();
  const index = session.indexAtTime(t);
  const events = session.rawEvents(index, 100);
  seekMs.push(performance.now() - s);
  if (events.length === 0 && index < session.eventCount) throw new Error(`seek to ${t} found nothing`);
  const c = performance.now();
  session.counters(session.startNs, t);
  stateMs.push(performance.now() - c);
  // state at t: every page table just after the event at t (nearest keyframe + replay)
  const k = performance.now();
  session.stateAfter(Math.min(index, session.eventCount - 1));
  stateAtMs.push(performance.now() - k);
  if (i % 20 === 0) sampleRss();
}
sampleRss();
console.log(
  JSON.stringify({
    events: session.eventCount,
    exits: Object.values(summary.exitsByReason).reduce((a, b) => a + b, 0),
    openMs,
    openReadPercent,
    seekP99Ms: percentile(seekMs, 99),
    countersP99Ms: percentile(stateMs, 99),
    stateAtP99Ms: percentile(stateAtMs, 99),
    keyframes: session.keyframes.length,
    peakRssMB: peakRss / 2 ** 20,
    readerRssMB: (peakRss - baseRss) / 2 ** 20,
  }),
);
