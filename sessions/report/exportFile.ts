/**
 * Every export format written to a file: what the host's `sessions.export` and the CLI share.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import type { SessionReader } from '../reader.ts';
import { exportChrome, exportCsvAll, exportJsonl } from '../export.ts';
import { renderReportAsync, type ReportSection } from './html.ts';
import { ReportError, htmlToPdf } from './pdf.ts';

export { ReportError } from './pdf.ts';

export type ExportFormat = 'jsonl' | 'csv' | 'chrome' | 'html' | 'pdf';

export const EXPORT_EXTENSIONS: Record<ExportFormat, string> = { jsonl: '.jsonl', csv: '.csv', chrome: '.trace.json', html: '.html', pdf: '.pdf' };
export const EXPORT_MIME: Record<ExportFormat, string> = {
  jsonl: 'application/x-ndjson',
  csv: 'text/csv',
  chrome: 'application/json',
  html: 'text/html',
  pdf: 'application/pdf',
};

export interface ExportFileOptions {
  title: string;
  diffFrom?: number;
  diffTo?: number;
  extraSections?: ReportSection[];
  /** How to print the HTML to a PDF (default: the system Chromium; the desktop app passes Electron's printToPDF). */
  printPdf?: (html: string, outPath: string) => Promise<void>;
}

function streamTo(path: string, write: (out: (s: string) => void) => void): void {
  const fd = openSync(path, 'w');
  try {
    write((s) => {
      const b = Buffer.from(s, 'utf8');
      let done = 0;
      while (done < b.length) done += writeSync(fd, b, done, b.length - done);
    });
  } finally {
    closeSync(fd);
  }
}

export async function exportSessionFile(session: SessionReader, format: ExportFormat, path: string, options: ExportFileOptions): Promise<void> {
  if (format === 'jsonl') return streamTo(path, (out) => exportJsonl(session, out));
  if (format === 'csv') return streamTo(path, (out) => exportCsvAll(session, out));
  if (format === 'chrome') return streamTo(path, (out) => exportChrome(session, out));
  // the report's page-table diff can be long: the host keeps answering while it is computed
  const html = await renderReportAsync(session, options);
  if (format === 'html') return writeFileSync(path, html);
  if (format === 'pdf') return (options.printPdf ?? htmlToPdf)(html, path);
  throw new ReportError(`unknown export format "${String(format)}"`);
}
