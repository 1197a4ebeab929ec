/**
 * The benchmark harness: named benchmarks, each measured with warm-up and repetitions and,
 * where it has one, beside a baseline measured in the same run, so a figure is always read
 * against what this machine can do right now.
 */
import { cpus, totalmem } from 'node:os';

/** One measurement: a figure in `unit`, higher or lower being better. */
export interface Figure {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Budget from the issue that owns the figure, if any. */
  budget?: number;
}

export interface Benchmark {
  name: string;
  group: string;
  figure: Figure;
  /** Runs once and returns the figure's value. */
  run(): Promise<number> | number;
  /** The same work done the simplest way, in the same unit (the ratio's denominator). */
  baseline?: { name: string; run(): Promise<number> | number };
  warmup?: number;
  repetitions?: number;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export interface BenchResult {
  name: string;
  group: string;
  unit: string;
  better: 'higher' | 'lower';
  budget?: number;
  meetsBudget?: boolean;
  stats: Stats;
  baseline?: { name: string; stats: Stats; ratio: number };
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN, samples };
}

/**
 * The median over `pairs` of ours ÷ base, each pair measured back to back (the baseline first),
 * so a change of load on a shared machine hits both sides of each ratio.
 */
export function interleavedRatio(pairs: number, ours: () => number, base: () => number): number {
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const b = base();
    ratios.push(ours() / b);
  }
  return stats(ratios).median;
}

/** The p-th percentile (0..100) of a list of numbers, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

async function sample(fn: () => Promise<number> | number, warmup: number, repetitions: number): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < repetitions; i++) samples.push(await fn());
  return stats(samples);
}

export async function measure(bench: Benchmark): Promise<BenchResult> {
  const warmup = bench.warmup ?? 1;
  const repetitions = bench.repetitions ?? 5;
  const result = await sample(() => bench.run(), warmup, repetitions);
  const out: BenchResult = {
    name: bench.name,
    group: bench.group,
    unit: bench.figure.unit,
    better: bench.figure.better,
    stats: result,
  };
  if (bench.figure.budget !== undefined) {
    out.budget = bench.figure.budget;
    out.meetsBudget = bench.figure.better === 'higher' ? result.median >= bench.figure.budget : result.median <= bench.figure.budget;
  }
  if (bench.baseline) {
    const base = await sample(() => bench.baseline!.run(), warmup, repetitions);
    out.baseline = { name: bench.baseline.name, stats: base, ratio: result.median / base.median };
  }
  return out;
}

export function describeMachine(): Record<string, string | number> {
  const cpu = cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6) return (value / 1e6).toFixed(2) + ' M';
  if (abs >= 1e4) return (value / 1e3).toFixed(1) + ' k';
  if (abs >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}

export function formatTable(results: BenchResult[]): string {
  const rows = [['benchmark', 'median', 'min', 'max', 'unit', 'budget', 'baseline', 'ratio']];
  for (const r of results) {
    const budget = r.budget === undefined ? '' : `${r.better === 'higher' ? '≥' : '≤'} ${fmt(r.budget)} ${r.meetsBudget ? 'ok' : 'MISSED'}`;
    rows.push([
      r.name,
      fmt(r.stats.median),
      fmt(r.stats.min),
      fmt(r.stats.max),
      r.unit,
      budget,
      r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.stats.median)}` : '',
      r.baseline ? r.baseline.ratio.toFixed(2) : '',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}
