/**
 * `mmu-lab export`: a session as JSONL, CSV (all tables to stdout, or one file per event type),
 * Chrome trace event JSON, or the HTML/PDF report with its page-table diff range.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { basename, join } from 'node:path';
import { exportChrome, exportCsvAll, exportCsvTable, exportJsonl, presentTypes } from '../export.ts';
import { renderReport } from '../report/html.ts';
import { ReportError, exportSessionFile } from '../report/exportFile.ts';
import { writeAll } from './output.ts';
import { openOrFail, warnLosses } from './sessionFile.ts';
import { CliError } from './status.ts';

/** An event index option (`--from`, `--to`), checked against the session. */
function eventIndexOption(name: string, value: string | undefined, events: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new CliError(`--${name} must be an event index (0, 1, 2, ...), not "${value}"`);
  if (n >= events) throw new CliError(`--${name} ${n} is past the session's last event (${events - 1})`);
  return n;
}

async function cmdReport(file: string, opts: { format: string; output?: string; from?: string; to?: string; title?: string }): Promise<number> {
  const { session, diagnostics } = openOrFail(file);
  warnLosses(file, diagnostics);
  const atOpen = diagnostics.length;
  const diffFrom = eventIndexOption('from', opts.from, session.eventCount);
  const diffTo = eventIndexOption('to', opts.to, session.eventCount);
  const title = opts.title ?? basename(file).replace(/\.mmulab$/i, '');
  const options = { title, ...(diffFrom !== undefined ? { diffFrom } : {}), ...(diffTo !== undefined ? { diffTo } : {}) };
  if (opts.format === 'html' && !opts.output) {
    const fd = 1;
    writeAll(fd, renderReport(session, options));
    return warnLosses(file, diagnostics, atOpen);
  }
  if (!opts.output) throw new CliError('export --format pdf needs -o <file.pdf> (a PDF is not written to a terminal)');
  try {
    await exportSessionFile(session, opts.format as 'html' | 'pdf', opts.output, options);
  } catch (e) {
    if (e instanceof ReportError) throw new CliError(e.message);
    throw e;
  }
  return warnLosses(file, diagnostics, atOpen);
}

export function cmdExport(file: string, opts: { format: string; output?: string; from?: string; to?: string; title?: string }): number | Promise<number> {
  const format = opts.format;
  if (format === 'html' || format === 'pdf') return cmdReport(file, opts);
  if (!['jsonl', 'csv', 'chrome'].includes(format)) throw new CliError(`unknown export format "${format}" (use jsonl, csv, chrome, html or pdf)`);
  const { session, diagnostics } = openOrFail(file);
  warnLosses(file, diagnostics);
  const atOpen = diagnostics.length;
  if (format === 'csv' && opts.output) {
    // one file per event type in the directory
    mkdirSync(opts.output, { recursive: true });
    for (const type of presentTypes(session)) {
      const fd = openSync(join(opts.output, `${type}.csv`), 'w');
      try {
        exportCsvTable(session, type, (s) => writeAll(fd, s));
      } finally {
        closeSync(fd);
      }
    }
    return warnLosses(file, diagnostics, atOpen);
  }
  const fd = opts.output ? openSync(opts.output, 'w') : 1;
  try {
    const sink = (s: string) => writeAll(fd, s);
    if (format === 'jsonl') exportJsonl(session, sink);
    else if (format === 'csv') exportCsvAll(session, sink);
    else exportChrome(session, sink);
  } finally {
    if (fd !== 1) closeSync(fd);
  }
  // events lost while reading (a chunk that fails its checksum when first read) count as much as those found at open
  return warnLosses(file, diagnostics, atOpen);
}
