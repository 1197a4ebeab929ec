/**
 * `mmu-lab compare`: two sessions side by side (time, events, exits per reason, faults, with
 * ratios), as text or JSON; the lab variant records the reference session first (main.ts).
 */
import { fmtInt } from '../format.ts';
import { ratio, sessionTotals } from '../views.ts';
import { infoJson } from './infoCmd.ts';
import { out, table } from './output.ts';
import { fmtDiag, openOrFail } from './sessionFile.ts';
import { EXIT } from './status.ts';

export function cmdCompare(a: string, b: string, opts: { json?: boolean }): number {
  const A = openOrFail(a);
  const B = openOrFail(b);
  const ta = sessionTotals(A.session);
  const tb = sessionTotals(B.session);
  const sa = infoJson(a, A.session, A.diagnostics, ta);
  const sb = infoJson(b, B.session, B.diagnostics, tb);
  const metrics: [string, number, number][] = [
    ['simulated ns', ta.simNs, tb.simNs],
    ['events', ta.events, tb.events],
    ['vmexits', ta.exits, tb.exits],
    ['exit handling ns', ta.exitNs, tb.exitNs],
    ['guest faults', ta.faults, tb.faults],
  ];
  const reasons = [...new Set([...Object.keys(sa.exitsByReason), ...Object.keys(sb.exitsByReason)])].sort();
  const types = [...new Set([...Object.keys(sa.eventsByType), ...Object.keys(sb.eventsByType)])].sort();
  if (opts.json) {
    const row = ([name, x, y]: [string, number, number]) => ({ name, a: x, b: y, ratio: ratio(x, y) });
    out(
      JSON.stringify(
        {
          a: { file: a, scenarioName: sa.scenarioName, complete: sa.complete, diagnostics: A.diagnostics },
          b: { file: b, scenarioName: sb.scenarioName, complete: sb.complete, diagnostics: B.diagnostics },
          metrics: metrics.map(row),
          exitsByReason: reasons.map((r) => row([r, sa.exitsByReason[r] ?? 0, sb.exitsByReason[r] ?? 0])),
          eventsByType: types.map((t) => row([t, sa.eventsByType[t] ?? 0, sb.eventsByType[t] ?? 0])),
        },
        null,
        2,
      ) + '\n',
    );
    return EXIT.ok;
  }
  const fmtRatio = (x: number, y: number) => {
    const r = ratio(x, y);
    return r === null ? (y === 0 ? '-' : 'new') : `${r.toFixed(2)}x`;
  };
  out(`a: ${a} (${sa.scenarioName})\nb: ${b} (${sb.scenarioName})\n\n`);
  out(table([['', 'a', 'b', 'b/a'], ...metrics.map(([n, x, y]) => [n, fmtInt(x), fmtInt(y), fmtRatio(x, y)])]));
  if (reasons.length) {
    out('\nExits by reason\n');
    out(table([['reason', 'a', 'b', 'b/a'], ...reasons.map((r) => [r, fmtInt(sa.exitsByReason[r] ?? 0), fmtInt(sb.exitsByReason[r] ?? 0), fmtRatio(sa.exitsByReason[r] ?? 0, sb.exitsByReason[r] ?? 0)])]));
  }
  out('\nEvents by type\n');
  out(table([['type', 'a', 'b', 'b/a'], ...types.map((t) => [t, fmtInt(sa.eventsByType[t] ?? 0), fmtInt(sb.eventsByType[t] ?? 0), fmtRatio(sa.eventsByType[t] ?? 0, sb.eventsByType[t] ?? 0)])]));
  for (const [name, r] of [
    ['a', A],
    ['b', B],
  ] as const)
    if (r.diagnostics.length) out(`\nDiagnostics of ${name}\n` + r.diagnostics.map(fmtDiag).join('\n') + '\n');
  return EXIT.ok;
}
