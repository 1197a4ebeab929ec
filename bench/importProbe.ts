/**
 * Import figures in a fresh process, so the memory figure is the importer's own: imports FILE
 * into OUT and prints one JSON line (lines, seconds, peak RSS). With `--split` it only reads
 * the file and splits it into lines the simplest way (the baseline), with the same figures.
 * Usage: node --import tsx bench/importProbe.ts FILE OUT [--split]
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { importTrace } from '../sessions/import/index.ts';

const [file, out, mode] = process.argv.slice(2);
if (!file || !out) throw new Error('usage: importProbe FILE OUT [--split]');

let peakRss = process.memoryUsage().rss;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));

/** Read in 1 MiB blocks, decode, split on newlines; count lines (what any importer must at least do). */
function splitLines(path: string): number {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let lines = 0;
  let carry = '';
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const parts = (carry + buf.toString('utf8', 0, n)).split('\n');
      carry = parts.pop()!;
      lines += parts.length;
      sampleRss();
    }
  } finally {
    closeSync(fd);
  }
  return lines + (carry ? 1 : 0);
}

const started = performance.now();
const cpu0 = process.cpuUsage();
let lines: number;
let records = 0;
if (mode === '--split') lines = splitLines(file);
else {
  const r = await importTrace(file, out, { onProgress: sampleRss });
  if (!r.ok || !r.complete) throw new Error(r.message);
  lines = r.lines;
  records = r.records;
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
// CPU seconds of this process: on a loaded machine the wall time also counts others' work
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
sampleRss();
console.log(JSON.stringify({ lines, records, seconds, cpuSeconds, linesPerSecond: lines / seconds, linesPerCpuSecond: lines / cpuSeconds, peakRssMB: peakRss / 2 ** 20 }));
