/**
 * Opening the session a command names, and what its diagnostics mean for the exit status:
 * a file that does not open is one error line; losses found at open or while reading are
 * warned about on stderr and turn the status into 2 (data loss).
 */
import { openSession, type Diagnostic, type SessionReader } from '../reader.ts';
import { err } from './output.ts';
import { CliError, EXIT } from './status.ts';

export function openOrFail(file: string): { session: SessionReader; diagnostics: Diagnostic[] } {
  const { session, diagnostics } = openSession(file);
  if (!session) {
    const first = diagnostics.find((d) => d.severity === 'error') ?? diagnostics[0];
    const msg = first ? first.message : 'not a readable session';
    throw new CliError(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
  return { session, diagnostics };
}

export function statusOf(diagnostics: Diagnostic[]): number {
  if (diagnostics.some((d) => d.severity === 'error')) return EXIT.error;
  if (diagnostics.some((d) => d.severity === 'dataLoss')) return EXIT.dataLoss;
  return EXIT.ok;
}

/** Warn on stderr about every loss found from diagnostic `from` on; the exit status for what was found. */
export function warnLosses(file: string, diagnostics: Diagnostic[], from = 0): number {
  for (const d of diagnostics.slice(from)) if (d.severity !== 'info') err(`mmu-lab: warning: ${file}: ${d.message}\n`);
  return statusOf(diagnostics);
}

export function fmtDiag(d: Diagnostic): string {
  const sev = d.severity === 'dataLoss' ? 'data loss' : d.severity;
  return `  [${sev}] ${d.code}: ${d.message}`;
}
