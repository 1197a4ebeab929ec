/**
 * The lab part of a report: the student's name, the answers, the check results, the sessions'
 * fingerprints and a chart of exits by reason per session. Each part is a section of the shape
 * the session report (sessions/report/html.ts, `ReportSection`) takes as `extraSections`; until
 * that lands, `renderLabReport` puts them on a self-contained page of their own (inline CSS and
 * SVG, no script, a CSP that forbids everything else) that prints to PDF as it is.
 * Everything printed from a lab file or an answer goes through `esc`.
 */
import type { LabRun } from './run.ts';
import type { LabSession } from './queries.ts';

/** Structurally a `ReportSection` of sessions/report/html.ts. */
export interface LabReportSection {
  id: string;
  title: string;
  render(ctx: { figure(caption: string): string }): string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function exitsByReason(s: LabSession): [string, number][] {
  const m = new Map<string, number>();
  for (const e of s.events) if (e.type === 'vmexit') m.set(e.reason, (m.get(e.reason) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1]);
}

/** Horizontal bars of exits by reason, one group per session, as inline SVG. */
function exitsChart(run: LabRun, sessions: ReadonlyMap<string, LabSession>): string {
  const rows: { label: string; n: number }[] = [];
  for (const info of run.sessions) {
    const s = sessions.get(info.id);
    if (!s) continue;
    for (const [reason, n] of exitsByReason(s).slice(0, 6)) rows.push({ label: `${info.id}: ${reason}`, n });
  }
  if (!rows.length) return '<p>No VM exits.</p>';
  const max = Math.max(...rows.map((r) => r.n));
  const h = 18;
  const bars = rows
    .map((r, i) => {
      const w = Math.max(1, Math.round((r.n / max) * 380));
      return `<text x="0" y="${i * h + 13}" font-size="11">${esc(r.label)}</text><rect x="260" y="${i * h + 3}" width="${w}" height="${h - 6}" fill="#3b6ea5"/><text x="${266 + w}" y="${i * h + 13}" font-size="11">${r.n}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="700" height="${rows.length * h + 4}" role="img" aria-label="VM exits by reason per session">${bars}</svg>`;
}

export function labReportSections(run: LabRun, student: string, sessions: ReadonlyMap<string, LabSession>): LabReportSection[] {
  return [
    {
      id: 'lab',
      title: 'Lab',
      render: () =>
        `<table class="kv"><tr><th>Lab</th><td>${esc(run.title)} (${esc(run.lab)})</td></tr><tr><th>Student</th><td>${esc(student)}</td></tr>` +
        `<tr><th>Result</th><td><strong>${run.passed ? 'PASS' : 'FAIL'}</strong>: ${run.checks.filter((c) => c.passed).length} of ${run.checks.length} checks pass</td></tr></table>`,
    },
    {
      id: 'lab-answers',
      title: 'Answers',
      render: () =>
        '<table class="grid"><tr><th>Question</th><th>Answer</th><th></th></tr>' +
        run.questions
          .map(
            (q) =>
              `<tr><td>${esc(q.prompt)}</td><td>${q.answered ? esc(q.givenText ?? '') : '<em>not answered</em>'}</td><td>${!q.graded ? 'prediction' : q.correct === null ? '—' : q.correct ? 'right' : 'wrong'}</td></tr>`,
          )
          .join('') +
        '</table>',
    },
    {
      id: 'lab-checks',
      title: 'Checks',
      render: () =>
        '<table class="grid"><tr><th>Check</th><th>Result</th></tr>' +
        run.checks.map((c) => `<tr><td>${esc(c.title)} <code>${esc(c.id)}</code></td><td>${c.passed ? 'PASS' : `FAIL${c.error ? ': ' + esc(c.error) : ''}`}</td></tr>`).join('') +
        '</table>',
    },
    {
      id: 'lab-figures',
      title: 'Key figures',
      render: (ctx) =>
        '<table class="grid num"><tr><th>Session</th><th>Events</th><th>VM exits</th><th>Simulated time (ns)</th></tr>' +
        run.sessions.map((s) => {
          const l = sessions.get(s.id);
          return `<tr><td>${esc(s.id)}: ${esc(s.title)}</td><td>${s.events}</td><td>${s.exits}</td><td>${l ? l.endNs - l.startNs : ''}</td></tr>`;
        }).join('') +
        `</table><figure>${exitsChart(run, sessions)}<figcaption>${ctx.figure('VM exits by reason in each session of the lab')}</figcaption></figure>`,
    },
    {
      id: 'lab-fingerprints',
      title: 'Session fingerprints',
      render: () =>
        '<p>The SHA-256 of each session file, so a teacher can match this report with the sessions handed in.</p><table class="grid"><tr><th>Session</th><th>Fingerprint</th></tr>' +
        run.sessions.map((s) => `<tr><td>${esc(s.id)}</td><td><code>${esc(s.fingerprint)}</code></td></tr>`).join('') +
        '</table>',
    },
  ];
}

const CSS = `body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;line-height:1.4}
h1{font-size:1.6em} h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0} th,td{padding:.2em .6em;text-align:left;vertical-align:top}
table.grid th,table.grid td{border:1px solid #ddd} table.kv th{color:#555;font-weight:normal} code{font-size:.85em;word-break:break-all}
figcaption{font-size:.9em;color:#444} @media print{body{margin:0;max-width:none}}`;

/** A self-contained HTML lab report. */
export function renderLabReport(run: LabRun, student: string, sessions: ReadonlyMap<string, LabSession>): string {
  let figures = 0;
  const ctx = { figure: (caption: string) => `Figure ${++figures}. ${esc(caption)}` };
  const body = labReportSections(run, student, sessions)
    .map((s) => `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>\n${s.render(ctx)}\n</section>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(run.title)} — MMU Lab report</title><style>${CSS}</style></head>
<body><h1>${esc(run.title)}</h1>
${body}
</body></html>
`;
}
