/**
 * The desktop app prints the HTML report with Electron's own Chromium (webContents.printToPDF),
 * so a PDF export needs no system browser. The report is static (no scripts, inline CSS and
 * SVG): it is loaded from a temporary file into a hidden window with JavaScript off, in its own
 * in-memory session, and the window is destroyed right after.
 */
import { BrowserWindow } from 'electron';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function electronPrintToPdf(html: string, outPath: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-print-'));
  const page = join(dir, 'report.html');
  writeFileSync(page, html);
  const win = new BrowserWindow({
    show: false,
    webPreferences: { javascript: false, sandbox: true, contextIsolation: true, nodeIntegration: false, partition: 'mmulab-print', spellcheck: false, disableBlinkFeatures: 'Auxclick' },
  });
  try {
    await win.loadFile(page);
    const pdf = await win.webContents.printToPDF({ printBackground: true, pageSize: 'A4', margins: { marginType: 'default' } });
    writeFileSync(outPath, pdf);
  } finally {
    win.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
