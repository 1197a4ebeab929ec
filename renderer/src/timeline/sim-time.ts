/**
 * Simulated time in the UI. The host speaks plain numbers of simulated nanoseconds (`SimNs`
 * below is a readability alias, not a brand: the contract's numbers arrive unbranded).
 */
export type SimNs = number;

const UNITS: readonly [number, string][] = [
  [1e9, 's'],
  [1e6, 'ms'],
  [1e3, 'µs'],
  [1, 'ns'],
];

/** A duration or position in simulated ns as a person reads it: `812 ns`, `12.35 µs`, `3.100 ms`. */
export function formatNs(ns: SimNs, digits = 3): string {
  if (!Number.isFinite(ns)) return '—';
  const abs = Math.abs(ns);
  for (const [scale, unit] of UNITS) {
    if (abs >= scale || scale === 1) {
      if (scale === 1) return `${Math.round(ns)} ns`;
      return `${(ns / scale).toFixed(digits)} ${unit}`;
    }
  }
  return `${ns} ns`;
}

/** A "nice" ruler step (1, 2 or 5 × 10^k ns) so that about `targetTicks` ticks fit in `span`. */
export function niceStep(span: SimNs, targetTicks: number): SimNs {
  if (!(span > 0) || !(targetTicks > 0)) return 1;
  const raw = span / targetTicks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return Math.max(1, m * pow);
  return Math.max(1, 10 * pow);
}

/** Ruler label for a tick: only as many decimals as the step needs. */
export function formatTick(ns: SimNs, step: SimNs): string {
  for (const [scale, unit] of UNITS) {
    if (Math.abs(ns) >= scale || scale === 1) {
      if (scale === 1) return `${Math.round(ns)} ns`;
      const decimals = Math.max(0, Math.min(6, Math.ceil(Math.log10(scale / step))));
      return `${(ns / scale).toFixed(decimals)} ${unit}`;
    }
  }
  return `${ns}`;
}
