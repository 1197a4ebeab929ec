/**
 * `mmu-lab info`: what a session holds (VMs, vCPUs, duration, events, exits by reason in the
 * layout of `perf kvm stat report`, diagnostics). Its --json shape is a documented contract,
 * which `compare` reuses for each of its two sessions.
 */
import { basename } from 'node:path';
import { fmtInt, fmtNs } from '../format.ts';
import type { Diagnostic, SessionReader } from '../reader.ts';
import { sessionTotals, type SessionTotals } from '../views.ts';
import { importHostLanes, importInfoJson, importInfoText } from './importCmd.ts';
import { out, pct, table } from './output.ts';
import { fmtDiag, openOrFail, statusOf } from './sessionFile.ts';

/** What info prints (its --json shape, a documented contract); the totals come from views.ts like the API's. */
export function infoJson(file: string, session: SessionReader, diagnostics: Diagnostic[], totals: SessionTotals) {
  const s = session.summary();
  const c = totals.counters;
  return {
    file,
    scenarioName: s.scenarioName,
    producer: session.header.producer,
    formatMajor: session.header.formatMajor,
    seed: session.header.seed,
    complete: s.complete,
    vms: s.vms,
    vcpus: s.vcpus,
    events: totals.events,
    exits: totals.exits,
    startNs: s.startNs,
    endNs: s.endNs,
    durationNs: totals.simNs,
    eventsByType: s.eventsByType,
    exitsByReason: s.exitsByReason,
    exitsByHandling: c.exitsByHandling,
    exitNsByReason: c.exitNsByReason,
    ...(s.completeness ? { completeness: s.completeness } : {}),
    diagnostics,
    ...importInfoJson(session),
  };
}

export function cmdInfo(file: string, opts: { json?: boolean }): number {
  const { session, diagnostics } = openOrFail(file);
  // every event chunk's checksum (read, not decoded): a loss inside a body the index does not
  // need is found too, so the exit status says whether data was lost
  for (const lane of session.lanes) for (const ch of lane.chunks) session.checksumChunk(ch);
  const totals = sessionTotals(session);
  const j = infoJson(file, session, diagnostics, totals);
  if (opts.json) {
    out(JSON.stringify(j, null, 2) + '\n');
    return statusOf(diagnostics);
  }
  const c = totals.counters;
  const lines: string[] = [];
  lines.push(`Session    ${basename(file)}`);
  lines.push(`Scenario   ${j.scenarioName || '(unnamed)'}, seed ${j.seed}`);
  lines.push(`Producer   ${j.producer} (format ${j.formatMajor})`);
  lines.push(`Status     ${j.complete ? 'complete' : 'incomplete'}`);
  if (j.completeness) {
    // a cut recording: say how far each lane, and all of them, can be trusted
    lines.push(`Complete   all vCPUs up to t = ${fmtNs(j.completeness.allLanesNs)}; after that some vCPUs' events may be missing`);
    for (const l of j.completeness.lanes)
      lines.push(`             VM ${l.vm} vCPU ${l.vcpu}: complete up to ${l.events ? `t = ${fmtNs(l.completeNs)}` : 'its start (no event readable)'}`);
  }
  // an imported trace's host lane (host kernel threads) is a lane, not a vCPU
  const hostLanes = importHostLanes(session);
  const lanesText = (n: number, i: number) => {
    const v = hostLanes[i] === undefined ? n : n - 1;
    return `VM ${i}: ${v} vCPU${v === 1 ? '' : 's'}${hostLanes[i] === undefined ? '' : ' + host lane'}`;
  };
  lines.push(`VMs        ${j.vms} (${session.header.vcpus.map(lanesText).join(', ')})`);
  lines.push(`Duration   ${fmtNs(j.durationNs)} simulated`);
  lines.push(`Events     ${fmtInt(j.events)}, of which ${fmtInt(j.exits)} VM exits`);
  out(lines.join('\n') + '\n\n');
  const types = Object.entries(j.eventsByType).sort((a, b) => b[1] - a[1]);
  if (types.length) {
    out('Events by type\n');
    out(table(types.map(([k, v]) => [k, fmtInt(v), pct(v, j.events)])));
    out('\n');
  }
  if (j.exits > 0) {
    const totalNs = totals.exitNs;
    const rows = [['VM-EXIT', 'Samples', 'Samples%', 'Time%', 'Min Time', 'Max Time', 'Avg time']];
    for (const [reason, n] of Object.entries(c.exitsByReason).sort((a, b) => b[1] - a[1])) {
      const ns = c.exitNsByReason[reason] ?? 0;
      rows.push([
        reason,
        String(n),
        pct(n, j.exits),
        pct(ns, totalNs),
        `${c.exitMinNsByReason[reason] ?? 0}ns`,
        `${c.exitMaxNsByReason[reason] ?? 0}ns`,
        `${(ns / n).toFixed(2)}ns`,
      ]);
    }
    out('Analyze events for all VMs, all VCPUs:\n\n');
    out(table(rows));
    out(`\nTotal Samples:${j.exits}, Total events handled time:${totalNs}ns.\n\n`);
  }
  out('Per vCPU\n');
  out(table([['VM', 'vCPU', 'Events', 'Exits'], ...j.vcpus.map((v) => [String(v.vm), String(v.vcpu), fmtInt(v.events), fmtInt(v.exits)])], 0));
  out(importInfoText(session, table));
  if (diagnostics.length) {
    out('\nDiagnostics\n');
    out(diagnostics.map(fmtDiag).join('\n') + '\n');
  }
  return statusOf(diagnostics);
}
