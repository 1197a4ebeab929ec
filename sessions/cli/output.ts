/**
 * What the commands write: whole writes to stdout and stderr (a pipe may take a write in
 * parts, and a closed pipe ends the command quietly), one-line messages and plain-text tables.
 */
import { writeSync } from 'node:fs';

export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') process.exit(0);
      throw e;
    }
  }
}

export const out = (s: string) => writeAll(1, s);
export const err = (s: string) => writeAll(2, s);

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function table(rows: string[][], rightFrom = 1): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => '  ' + r.map((c, i) => pad(c, widths[i]!, i >= rightFrom)).join('  ').trimEnd()).join('\n') + '\n';
}

export function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(2)}%` : '-';
}
