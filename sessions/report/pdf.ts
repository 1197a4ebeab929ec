/**
 * PDF from the HTML report with the system Chromium (headless `--print-to-pdf`), for the CLI and
 * the browser host. The desktop app can print the same HTML with Electron's printToPDF.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportError';
  }
}

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/snap/bin/chromium'];

/** The Chromium to print with: $MMU_LAB_CHROMIUM, else the first of the usual places that exists. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env.MMU_LAB_CHROMIUM;
  if (chosen !== undefined) return chosen && existsSync(chosen) ? chosen : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** Render `html` to a PDF at `outPath`. Throws ReportError with one readable line. */
export async function htmlToPdf(html: string, outPath: string, options: { chromium?: string; timeoutMs?: number } = {}): Promise<void> {
  const chromium = options.chromium ?? findChromium();
  if (!chromium)
    throw new ReportError('PDF export needs Chromium and none was found (looked in /usr/bin/chromium and similar; set MMU_LAB_CHROMIUM to its path), or export --format html and print that');
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-pdf-'));
  try {
    const page = join(dir, 'report.html');
    const pdf = join(dir, 'report.pdf');
    writeFileSync(page, html);
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      `--user-data-dir=${join(dir, 'profile')}`,
      '--no-pdf-header-footer',
      `--print-to-pdf=${pdf}`,
      pathToFileURL(page).href,
    ];
    await new Promise<void>((resolve, reject) => {
      execFile(chromium, args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 1 << 20 }, (error, _stdout, stderr) => {
        if (error) {
          const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is not there' : error.killed ? 'it timed out' : (String(stderr).trim().split('\n').pop() ?? error.message);
          reject(new ReportError(`Chromium (${chromium}) could not print the report to PDF: ${why.slice(0, 300)}`));
        } else resolve();
      });
    });
    if (!existsSync(pdf) || statSync(pdf).size === 0) throw new ReportError(`Chromium (${chromium}) ran but wrote no PDF`);
    copyFileSync(pdf, outPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
