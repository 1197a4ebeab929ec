/**
 * The lab part of a report: the student's name, the answers, the check results, the key figures
 * and the sessions' fingerprints, as sections of the session report (sessions/report/html.ts).
 * The lab report is that report of the lab's report session (its exits chart, per-vCPU timeline
 * and the page-table diff of the lab's chosen range) with these sections first. Everything
 * printed from a lab file or an answer goes through `escapeHtml`.
 */
import { writeFileSync } from 'node:fs';
import { escapeHtml as esc, defaultSections, renderReport, type ReportSection } from '../report/html.ts';
import { htmlToPdf } from '../report/pdf.ts';
import { openSession } from '../reader.ts';
import type { Lab } from './load.ts';
import type { LabRun } from './run.ts';
import type { LabSession } from './queries.ts';

export type LabReportSection = ReportSection;

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
      title: 'Lab and student',
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

/** The scenario whose session the lab report shows (the lab's `report.scenario`, else its first). */
export function reportScenario(lab: Lab): string {
  return lab.file.report?.scenario ?? lab.file.scenarios[0]!.id;
}

/**
 * The whole lab report as one self-contained HTML page: the lab's sections, then the session
 * report of the lab's report session (`sessionPath`) over the lab's diff range.
 */
export function renderLabReport(lab: Lab, sessionPath: string, run: LabRun, student: string, sessions: ReadonlyMap<string, LabSession>): string {
  const { session } = openSession(sessionPath);
  if (!session) throw new Error(`the session of scenario "${reportScenario(lab)}" cannot be read`);
  const range = lab.file.report;
  const diff = range
    ? { diffFrom: Math.max(0, session.indexAtTime(range.t0) - 1), diffTo: Math.max(0, Math.min(session.eventCount - 1, session.indexAtTime(range.t1 + 1) - 1)) }
    : {};
  // the notes section would print the saved progress note; the lab sections show it readably
  const rest = defaultSections().filter((s) => s.id !== 'notes');
  return renderReport(session, { title: lab.file.title, ...diff, sections: [...labReportSections(run, student, sessions), ...rest] });
}

/**
 * Write the lab report as HTML, or as PDF when `path` ends in .pdf: through `printPdf` when the
 * host has its own printer (the desktop app's printToPDF), else the system Chromium.
 */
export async function writeLabReport(path: string, html: string, printPdf?: (html: string, outPath: string) => Promise<void>): Promise<void> {
  if (/\.pdf$/i.test(path)) return (printPdf ?? htmlToPdf)(html, path);
  writeFileSync(path, html);
}
