/**
 * The tornado table of `npm run bench -- seeds`: each headline figure at the cost model as it
 * stands, and how far it moves when one cost constant (core/costs.ts) is halved or raised by
 * half, the others unchanged. Constants that move a figure by less than 0.5% of its value are
 * left out; a figure no constant moves comes from the mechanism alone (exit counts, for one).
 */
import { COST_KEYS, COST_SPECS, type CostKey } from '../core/costs.ts';
import type { EngineOptions } from '../core/engineApi.ts';
import { builtinExits, savedPercent, xenForkCow } from './seeds.bench.ts';
import { compare, lockWaitUs, loggedNs, threeWays } from './tdp.bench.ts';

export interface Headline {
  name: string;
  unit: string;
  seed?: string;
  value(options: EngineOptions): number;
}

export const HEADLINES: Headline[] = [
  { name: 'seed000 kbuild: time saved by update (vtx-2007)', unit: '%', seed: 'about 10%', value: (o) => savedPercent('kbuild-zap', 'kbuild-update', o) },
  {
    name: 'seed001 dirty-log: time saved by the fast page fault (ept-2012)',
    unit: '%',
    seed: '63.2%',
    value: (o) => {
      const slow = loggedNs('dirty-log-slow', o);
      return (100 * (slow - loggedNs('dirty-log-fast', o))) / slow;
    },
  },
  { name: 'dirty-log three ways: logged time saved by PML vs write protection', unit: '%', value: (o) => 100 * (1 - threeWays(2, o).loggedUs / threeWays(0, o).loggedUs) },
  { name: 'seed002 legacy mmu_lock wait, 8 vCPUs demand-faulting', unit: 'µs', value: (o) => lockWaitUs(8, false, o) },
  { name: 'seed003 Xen PV fork-cow: validation saved by pinning', unit: '%', value: (o) => 100 * (1 - xenForkCow(true, false, o).validationUs / xenForkCow(false, false, o).validationUs) },
  { name: 'seed004 kbuild: shadow time / TDP time (ept-2012)', unit: '×', value: (o) => compare('kbuild', 'shadow', o).timeUs / compare('kbuild', 'tdp', o).timeUs },
  { name: 'seed004 nested TDP: exits to L0 for the nested-tdp demand faults', unit: 'exits', value: (o) => builtinExits('nested-tdp', {}, o) },
];

export interface Swing {
  key: CostKey;
  low: number;
  high: number;
}

export interface TornadoRow {
  headline: Headline;
  base: number;
  swings: Swing[];
}

/** Sensitivity of one figure to every constant at ×0.5 and ×1.5, largest swing first. */
export function tornado(headline: Headline, keys: readonly CostKey[] = COST_KEYS): TornadoRow {
  const base = headline.value({});
  const swings: Swing[] = [];
  for (const key of keys) {
    const low = headline.value({ costScale: { [key]: 0.5 } });
    const high = headline.value({ costScale: { [key]: 1.5 } });
    if (Math.max(Math.abs(low - base), Math.abs(high - base)) > 0.005 * Math.abs(base)) swings.push({ key, low, high });
  }
  swings.sort((a, b) => Math.abs(b.high - b.low) - Math.abs(a.high - a.low));
  return { headline, base, swings };
}

const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));

export function formatTornado(rows: TornadoRow[]): string {
  const out: string[] = ['', 'Sensitivity of the headline figures to each cost constant (×0.5 … ×1.5; core/costs.ts, docs/engine.md "Cost model")'];
  for (const r of rows) {
    out.push('', `${r.headline.name}: ${fmt(r.base)} ${r.headline.unit}${r.headline.seed ? ` (seed: ${r.headline.seed})` : ''}`);
    if (r.swings.length === 0) {
      out.push('  no constant moves it: it comes from the mechanism alone');
      continue;
    }
    const widest = Math.max(...r.swings.map((s) => Math.abs(s.high - s.low)));
    for (const s of r.swings) {
      const bar = '#'.repeat(Math.max(1, Math.round((20 * Math.abs(s.high - s.low)) / (widest || 1))));
      out.push(`  ${s.key.padEnd(16)} ${COST_SPECS[s.key].kind.padEnd(9)} ${fmt(s.low).padStart(8)} … ${fmt(s.high).padEnd(8)} ${bar}`);
    }
  }
  return out.join('\n');
}

/** The whole report (run.ts prints it after the seeds group's table). */
export function tornadoReport(): string {
  return formatTornado(HEADLINES.map((h) => tornado(h)));
}
