/**
 * The session report: one self-contained HTML page (inline CSS and SVG, no scripts, no external
 * resources) that prints well, so the same page is the HTML export and the PDF's source.
 *
 * A report is a list of sections. `defaultSections()` gives the summary, the exits-by-reason
 * chart, the per-vCPU timeline, notes and the page-table diff; callers add their own (a lab's
 * questions, answers and check results) through `extraSections` or by passing their own list.
 * Each section returns an HTML fragment and must escape what it prints with `escapeHtml`.
 */
import { fmtInt, fmtNs } from '../format.ts';
import type { SessionReader } from '../reader.ts';
import { countersView, countersViewAsync, diffView, diffViewAsync, layouts, sessionTotals, type CountersView, type DiffView } from '../views.ts';
import { keyColours } from '../../core/palette.ts';

export interface ReportContext {
  session: SessionReader;
  title: string;
  /** The page-table diff section's range (event indexes; default: the whole session). */
  diffFrom?: number;
  diffTo?: number;
  /** Most changed entries the diff table lists. */
  diffLimit?: number;
  /** The diff of that range, when computed before rendering (`renderReportAsync`). */
  diff?: DiffView;
  /** Counters of the whole session, when computed before rendering. */
  counters?: CountersView;
  /** Figures are numbered in order as sections ask for them. */
  figure(caption: string): string;
}

/** One section of a report: the extension point. */
export interface ReportSection {
  id: string;
  title: string;
  render(ctx: ReportContext): string;
}

export interface ReportOptions {
  title: string;
  diffFrom?: number;
  diffTo?: number;
  diffLimit?: number;
  /** Sections appended after the default ones (e.g. the lab's answers and checks). */
  extraSections?: ReportSection[];
  /** Replace the default sections altogether. */
  sections?: ReportSection[];
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * The colour of each exit reason of a session, all different (core/palette.ts, as in the app):
 * the usual reasons keep theirs, the others take free ones in order of their counts.
 */
const reasonColourCache = new WeakMap<SessionReader, Map<string, string>>();
export function reasonColours(session: SessionReader): Map<string, string> {
  let m = reasonColourCache.get(session);
  if (!m) {
    const byCount = Object.entries(session.summary().exitsByReason).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    reasonColourCache.set(session, (m = keyColours(byCount.map(([r]) => r))));
  }
  return m;
}
function reasonColour(session: SessionReader, reason: string): string {
  return reasonColours(session).get(reason) ?? keyColours([reason]).get(reason)!;
}

function fmtNum(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

// ---- sections ----------------------------------------------------------------------------

export const summarySection: ReportSection = {
  id: 'summary',
  title: 'Summary',
  render(ctx) {
    const s = ctx.session;
    const totals = sessionTotals(s);
    const c = ctx.counters ?? countersView(s, s.startNs, s.endNs);
    const lay = layouts(s);
    const sc = s.header.scenario as { vms?: { mmu?: { mode?: string; shadow?: { onGuestPteWrite?: string } }; guest?: { workload?: { kind?: string } } }[]; hardware?: { profile?: string } } | null;
    const rows: [string, string][] = [
      ['Scenario', s.header.scenarioName || '(unnamed)'],
      ['Recorded by', s.header.producer],
      ['Hardware profile', sc?.hardware?.profile ?? '—'],
      ['VMs', lay.map((l, i) => `VM ${i}: ${s.header.vcpus[i]} vCPU${s.header.vcpus[i] === 1 ? '' : 's'}, ${l.ctl.mode} guest, ${sc?.vms?.[i]?.mmu?.mode ?? l.host}${sc?.vms?.[i]?.mmu?.shadow?.onGuestPteWrite ? ` (${sc.vms[i]!.mmu!.shadow!.onGuestPteWrite})` : ''}, ${sc?.vms?.[i]?.guest?.workload?.kind ?? ''}`).join('; ')],
      ['Simulated time', `${fmtNs(s.startNs)} .. ${fmtNs(s.endNs)}`],
      ['Events', fmtInt(totals.events)],
      ['VM exits', `${fmtInt(totals.exits)} (${fmtNs(totals.exitNs)} outside the guest)`],
      ['Guest page faults', fmtInt(totals.faults)],
      ['Recording', s.complete ? 'complete' : s.stopMessage ? `stopped: ${s.stopMessage}` : 'incomplete'],
    ];
    const diag = s.diagnostics.filter((d) => d.severity !== 'info');
    return (
      `<table class="kv">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>` +
      (diag.length ? `<p class="warn">${diag.map((d) => escapeHtml(d.message)).join('<br>')}</p>` : '') +
      perfKvmStatTable(c)
    );
  },
};

/** Exits by reason as `perf kvm stat report` prints them. */
export function perfKvmStatTable(c: CountersView): string {
  const head = '<tr><th>VM-EXIT</th><th>Samples</th><th>Samples%</th><th>Time%</th><th>Min Time</th><th>Max Time</th><th>Avg time</th></tr>';
  const rows = c.byReason
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.key)}</td><td>${fmtInt(r.count)}</td><td>${fmtNum((100 * r.count) / Math.max(1, c.exits), 2)}%</td><td>${fmtNum((100 * r.totalNs) / Math.max(1, c.exitNs), 2)}%</td><td>${fmtNum(r.minNs / 1000, 2)}us</td><td>${fmtNum(r.maxNs / 1000, 2)}us</td><td>${fmtNum(r.avgNs / 1000, 2)}us</td></tr>`,
    )
    .join('');
  return `<table class="grid num">${head}${rows}<tr class="total"><td>Total</td><td>${fmtInt(c.exits)}</td><td></td><td></td><td></td><td></td><td>${fmtNum(c.exits ? c.exitNs / c.exits / 1000 : 0, 2)}us</td></tr></table>`;
}

export const exitsChartSection: ReportSection = {
  id: 'exits-by-reason',
  title: 'Exits by reason',
  render(ctx) {
    const c = ctx.counters ?? countersView(ctx.session, ctx.session.startNs, ctx.session.endNs);
    if (!c.byReason.length) return '<p>No VM exits were recorded.</p>';
    const rows = c.byReason.slice(0, 20);
    const max = Math.max(...rows.map((r) => r.count));
    const rowH = 22;
    const labelW = 210;
    const barW = 420;
    const h = rows.length * rowH + 10;
    const bars = rows
      .map((r, i) => {
        const w = Math.max(1, (barW * r.count) / max);
        const y = 5 + i * rowH;
        return (
          `<text x="${labelW - 6}" y="${y + 15}" text-anchor="end">${escapeHtml(r.key)}</text>` +
          `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${reasonColour(ctx.session, r.key)}"/>` +
          `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 15}">${fmtInt(r.count)}</text>`
        );
      })
      .join('');
    return (
      `<figure><svg xmlns="http://www.w3.org/2000/svg" width="${labelW + barW + 90}" height="${h}" viewBox="0 0 ${labelW + barW + 90} ${h}" role="img" aria-label="Exits by reason" font-family="sans-serif" font-size="12">${bars}</svg>` +
      `<figcaption>${ctx.figure(`Exits by reason (${fmtInt(c.exits)} exits${c.byReason.length > rows.length ? `, top ${rows.length} reasons` : ''})`)}</figcaption></figure>`
    );
  },
};

export const timelineSection: ReportSection = {
  id: 'timeline',
  title: 'Per-vCPU timeline',
  render(ctx) {
    const s = ctx.session;
    const W = 720;
    const buckets = 720;
    const tl = s.timeline(s.startNs, s.endNs, buckets);
    const span = Math.max(1, s.endNs - s.startNs);
    const laneH = 26;
    const labelW = 90;
    const h = tl.lanes.length * laneH + 34;
    const reasons = new Map<string, number>();
    const lanes = tl.lanes
      .map((lane, i) => {
        const y = 6 + i * laneH;
        const rects = lane.slices
          .map((sl) => {
            reasons.set(sl.reason, (reasons.get(sl.reason) ?? 0) + sl.count);
            const x = labelW + ((sl.t0 - s.startNs) / span) * W;
            const w = Math.max(0.6, ((sl.t1 - sl.t0) / span) * W);
            return `<rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${laneH - 8}" fill="${reasonColour(s, sl.reason)}"/>`;
          })
          .join('');
        return `<text x="${labelW - 6}" y="${y + 13}" text-anchor="end">VM ${lane.vm} vCPU ${lane.vcpu}</text><rect x="${labelW}" y="${y}" width="${W}" height="${laneH - 8}" fill="#f1f1f1"/>${rects}`;
      })
      .join('');
    const axisY = 6 + tl.lanes.length * laneH + 4;
    const axis = [0, 0.25, 0.5, 0.75, 1]
      .map((f) => `<text x="${(labelW + f * W).toFixed(1)}" y="${axisY + 12}" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${escapeHtml(fmtNs(s.startNs + f * span))}</text>`)
      .join('');
    const legend = [...reasons]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([r]) => `<span class="key"><i style="background:${reasonColour(s, r)}"></i>${escapeHtml(r)}</span>`)
      .join(' ');
    return (
      `<figure><svg xmlns="http://www.w3.org/2000/svg" width="${labelW + W + 10}" height="${h}" viewBox="0 0 ${labelW + W + 10} ${h}" role="img" aria-label="Per-vCPU timeline" font-family="sans-serif" font-size="11">${lanes}${axis}</svg>` +
      `<div class="legend">${legend}</div><figcaption>${ctx.figure('Per-vCPU timeline: time spent in VM exits, coloured by exit reason')}</figcaption></figure>`
    );
  },
};

export const notesSection: ReportSection = {
  id: 'notes',
  title: 'Notes and bookmarks',
  render(ctx) {
    const notes = ctx.session.notes();
    if (!notes.length) return '<p>No notes or bookmarks.</p>';
    return `<table class="grid"><tr><th>Time</th><th>Event</th><th>Kind</th><th>Text</th></tr>${notes
      .map((n) => `<tr><td>${escapeHtml(fmtNs(n.t))}</td><td>${n.index ?? ''}</td><td>${n.kind}</td><td>${escapeHtml(n.text)}</td></tr>`)
      .join('')}</table>`;
  },
};

/** Most changed entries the report's diff table lists, unless the caller says otherwise. */
const DIFF_LIMIT = 300;

/** The diff section's range: `diffFrom`..`diffTo` clamped to the session (undefined: no events). */
function diffRange(ctx: Pick<ReportContext, 'session' | 'diffFrom' | 'diffTo'>): { from: number; to: number } | undefined {
  const n = ctx.session.eventCount;
  if (n === 0) return undefined;
  return { from: Math.max(0, Math.min(ctx.diffFrom ?? 0, n - 1)), to: Math.max(0, Math.min(ctx.diffTo ?? n - 1, n - 1)) };
}

export const diffSection: ReportSection = {
  id: 'page-table-diff',
  title: 'Page-table diff',
  render(ctx) {
    const range = diffRange(ctx);
    if (!range) return '<p>The session has no events.</p>';
    const { from, to } = range;
    const d = ctx.diff ?? diffView(ctx.session, from, to, ctx.diffLimit ?? DIFF_LIMIT);
    const counts = { added: 0, removed: 0, changed: 0 };
    for (const c of d.changes) counts[c.change]++;
    const rows = d.changes
      .map(
        (c) =>
          `<tr class="${c.change}"><td>VM ${c.vm}</td><td>${c.space}</td><td>${escapeHtml(c.table)}</td><td>${c.level}</td><td>${c.index}</td><td>${c.change}</td><td><code>${c.old}</code> ${escapeHtml(c.oldFlags.join(' '))}</td><td><code>${c.new}</code> ${escapeHtml(c.newFlags.join(' '))}</td><td>${c.lastEvent}</td></tr>`,
      )
      .join('');
    return (
      `<p>Entries that differ between just after event ${fmtInt(from)} and just after event ${fmtInt(to)}: ${fmtInt(d.total)}` +
      `${d.truncated ? ` (the first ${fmtInt(d.changes.length)} by the event that last changed them are listed)` : ''}; listed: ${counts.added} added, ${counts.removed} removed, ${counts.changed} changed.</p>` +
      (rows
        ? `<table class="grid small"><tr><th>VM</th><th>Space</th><th>Table</th><th>Level</th><th>Index</th><th>Change</th><th>Old</th><th>New</th><th>Last changed by event</th></tr>${rows}</table>`
        : '')
    );
  },
};

export function defaultSections(): ReportSection[] {
  return [summarySection, exitsChartSection, timelineSection, notesSection, diffSection];
}

const CSS = `
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0} th,td{padding:.2em .6em;text-align:left;vertical-align:top}
table.grid th,table.grid td{border:1px solid #ddd} table.num td:not(:first-child){text-align:right}
table.small{font-size:.8em} table.small td:nth-child(-n+6){white-space:nowrap} tr.total td{font-weight:bold} table.kv th{color:#555;font-weight:normal}
tr.added td{background:#eefbee} tr.removed td{background:#fdeeee}
figure{margin:1em 0} figcaption{font-size:.9em;color:#444} .warn{color:#a40}
.legend{font-size:.8em} .key{margin-right:1em;white-space:nowrap} .key i{display:inline-block;width:.8em;height:.8em;margin-right:.3em}
.meta{color:#666;font-size:.85em} code{font-size:.95em}
@media print{body{margin:0;max-width:none} section{break-inside:auto} figure{break-inside:avoid}}
`;

function reportContext(session: SessionReader, options: ReportOptions, diff?: DiffView, counters?: CountersView): ReportContext {
  let figures = 0;
  return {
    session,
    title: options.title,
    ...(options.diffFrom !== undefined ? { diffFrom: options.diffFrom } : {}),
    ...(options.diffTo !== undefined ? { diffTo: options.diffTo } : {}),
    ...(options.diffLimit !== undefined ? { diffLimit: options.diffLimit } : {}),
    ...(diff ? { diff } : {}),
    ...(counters ? { counters } : {}),
    figure: (caption) => `Figure ${++figures}. ${escapeHtml(caption)}`,
  };
}

const reportSections = (options: ReportOptions) => [...(options.sections ?? defaultSections()), ...(options.extraSections ?? [])];
const sectionHtml = (s: ReportSection, ctx: ReportContext) => `<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.title)}</h2>\n${s.render(ctx)}\n</section>`;

function reportPage(session: SessionReader, title: string, sections: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)} — MMU Lab report</title>
<style>${CSS}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<p class="meta">MMU Lab session report · ${escapeHtml(session.header.scenarioName)} · ${fmtInt(session.eventCount)} events</p>
${sections.join('\n')}
</body></html>
`;
}

/** The whole report page. */
export function renderReport(session: SessionReader, options: ReportOptions): string {
  const ctx = reportContext(session, options);
  return reportPage(session, options.title, reportSections(options).map((s) => sectionHtml(s, ctx)));
}

/**
 * The same page for a host that must keep answering: what grows with the session (the
 * page-table diff, the counters that decode every exit) is computed first with the views'
 * yielding variants, and the event loop runs between sections.
 */
export async function renderReportAsync(session: SessionReader, options: ReportOptions): Promise<string> {
  const sections = reportSections(options);
  const range = sections.some((s) => s.id === diffSection.id) ? diffRange({ session, ...options }) : undefined;
  const diff = range ? await diffViewAsync(session, range.from, range.to, options.diffLimit ?? DIFF_LIMIT) : undefined;
  const counters = await countersViewAsync(session, session.startNs, session.endNs);
  const ctx = reportContext(session, options, diff, counters);
  const html: string[] = [];
  for (const s of sections) {
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    html.push(sectionHtml(s, ctx));
  }
  return reportPage(session, options.title, html);
}
