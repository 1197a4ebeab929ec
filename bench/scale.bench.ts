/**
 * Scale: the same kbuild events written as a 10-million and a 100-million-event session, so
 * each per-event cost (write time, bytes, open, seek, reader memory) is read as the ratio of the
 * large session to the small one. A format whose costs grow with size shows a ratio well
 * above 1; one that scales shows ~1 per event (and ≤ 10 for whole-file figures such as open).
 *
 * Sizes: MMU_BENCH_SCALE_SMALL / MMU_BENCH_SCALE_LARGE (millions of events, default 10 / 100).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionWriter } from '../sessions/writer.ts';
import { addKeyframes } from '../sessions/record.ts';
import type { Benchmark } from './harness.ts';
import { forEachEvent, kbuildBatch, kbuildScenario, probeFile, type ProbeResult } from './sessions.bench.ts';

const SMALL = Number(process.env.MMU_BENCH_SCALE_SMALL ?? 10);
const LARGE = Number(process.env.MMU_BENCH_SCALE_LARGE ?? 100);

interface SizeFigures {
  events: number;
  writeNsPerEvent: number;
  /** The keyframe pass every recording makes when it closes (CLI and host alike). */
  keyframeNsPerEvent: number;
  bytesPerEvent: number;
  writerPeakRssMB: number;
  probe: ProbeResult;
}

function recordAndProbe(dir: string, batch: ReturnType<typeof kbuildBatch>, millions: number): SizeFigures {
  const passes = Math.round((millions * 1e6) / batch.events.length);
  const events = passes * batch.events.length;
  const file = join(dir, `kbuild-${millions}m.mmulab`);
  let peakRss = process.memoryUsage().rss;
  const started = performance.now();
  const writer = SessionWriter.create(file, { scenario: kbuildScenario() });
  let n = 0;
  forEachEvent(
    batch,
    (e) => {
      writer.append(e);
      // The writer must stream: sample memory as it goes, not only at the end.
      if (++n % 5_000_000 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    },
    passes,
  );
  writer.close({ complete: true });
  const writeNsPerEvent = ((performance.now() - started) * 1e6) / events;
  const keyframesStarted = performance.now();
  addKeyframes(file);
  const keyframeNsPerEvent = ((performance.now() - keyframesStarted) * 1e6) / events;
  const figures = {
    events,
    writeNsPerEvent,
    keyframeNsPerEvent,
    bytesPerEvent: statSync(file).size / events,
    writerPeakRssMB: peakRss / 2 ** 20,
    probe: probeFile(file, events),
  };
  rmSync(file, { force: true });
  return figures;
}

let measured: { small: SizeFigures; large: SizeFigures } | undefined;
function measureBoth() {
  if (!measured) {
    const dir = mkdtempSync(join(tmpdir(), 'mmu-scale-'));
    try {
      const batch = kbuildBatch();
      const small = recordAndProbe(dir, batch, SMALL);
      const large = recordAndProbe(dir, batch, LARGE);
      measured = { small, large };
      process.stderr.write(`scale: ${JSON.stringify(measured)}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return measured;
}

/** A figure of the large session, with the same figure of the small one as its baseline. */
function scaled(name: string, label: string, unit: string, pick: (f: SizeFigures) => number, budget?: number): Benchmark {
  return {
    name: `scale.${name}`,
    group: 'scale',
    figure: { name: `${label} at ${LARGE} M events (baseline: ${SMALL} M)`, unit, better: 'lower', budget },
    run: () => pick(measureBoth().large),
    baseline: { name: `${SMALL} M events`, run: () => pick(measureBoth().small) },
    warmup: 0,
    repetitions: 1,
  };
}

export function benchmarks(): Benchmark[] {
  return [
    scaled('write-ns-per-event', 'write time per event', 'ns/event', (f) => f.writeNsPerEvent, 500),
    scaled('keyframe-ns-per-event', 'keyframe pass at close, per event', 'ns/event', (f) => f.keyframeNsPerEvent),
    scaled('bytes-per-event', 'bytes per event on disk', 'B/event', (f) => f.bytesPerEvent, 16),
    scaled('writer-peak-rss', 'writer process peak RSS', 'MB', (f) => f.writerPeakRssMB),
    scaled('open-to-summary', 'open and first summary', 'ms', (f) => f.probe.openMs, 1500),
    scaled('open-read-share', 'bytes read by open and first summary, share of the file', '%', (f) => f.probe.openReadPercent ?? Number.NaN),
    scaled('seek-p99', 'seek to a random time + 100 events, p99', 'ms', (f) => f.probe.seekP99Ms, 50),
    scaled('reader-peak-rss', 'reader process peak RSS', 'MB', (f) => f.probe.peakRssMB, 500),
  ];
}
