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

const PARSE_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };

/**
 * A time a person typed, in simulated ns: `1500`, `1500 ns`, `12.5 µs` (or `us`), `3 ms`, `0.2 s`.
 * A bare number is ns. Undefined when it is not a time.
 */
export function parseNs(text: string): SimNs | undefined {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*(ns|us|µs|ms|s)?\s*$/i.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]);
  const unit = PARSE_UNITS[(m[2] ?? 'ns').toLowerCase().replace('μ', 'µ')] ?? PARSE_UNITS[(m[2] ?? '').toLowerCase()];
  if (!Number.isFinite(value) || unit === undefined) return undefined;
  return Math.round(value * unit);
}
