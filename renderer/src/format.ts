/**
 * The one way the UI writes numbers and units: thousands separators (1,906,743), simulated
 * time in ns/µs/ms/s (timeline/sim-time.ts), bytes in B/KiB/MiB/GiB, and nouns that agree with
 * their count ("1 exit", "2 exits"). Every view and tooltip uses these, so the same quantity
 * reads the same everywhere.
 */
export { formatNs, formatTick, parseNs } from './timeline/sim-time';

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const DECIMAL = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** A number with thousands separators: integers as integers, others with up to two decimals. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return Number.isInteger(n) ? INTEGER.format(n) : DECIMAL.format(n);
}

/** Irregular plurals of the nouns the UI counts. */
const PLURALS: Record<string, string> = { 'vCPU': 'vCPUs', entry: 'entries', 'TLB flush': 'TLB flushes', match: 'matches' };

export function plural(noun: string, n: number): string {
  if (n === 1) return noun;
  return PLURALS[noun] ?? `${noun}s`;
}

/** "1 exit", "1,906,743 exits". */
export function formatCount(n: number, noun: string): string {
  return `${formatNumber(n)} ${plural(noun, n)}`;
}

/** A file size: 812 B, 12.4 KiB, 3.1 MiB, 1.2 GiB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  if (bytes < 1024) return `${formatNumber(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A ratio b / a as the compare view shows it: 1.25×, or — when a is 0. */
export function formatRatio(r: number | null | undefined): string {
  return r === null || r === undefined || !Number.isFinite(r) ? '—' : `${r >= 100 ? formatNumber(Math.round(r)) : r.toFixed(2)}×`;
}
