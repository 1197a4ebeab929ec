/**
 * `mmu-lab verify`: every checksum, the index, every chunk decoded and the keyframes replayed,
 * saying exactly what was lost; with --repair, what can be read is written as a new session.
 */
import { existsSync, realpathSync } from 'node:fs';
import { fmtInt, fmtNs } from '../format.ts';
import type { Diagnostic, SessionReader } from '../reader.ts';
import { out } from './output.ts';
import { fmtDiag, openOrFail, statusOf } from './sessionFile.ts';
import { CliError, EXIT } from './status.ts';

export async function cmdVerify(file: string, opts: { repair?: boolean; output?: string } = {}): Promise<number> {
  if (opts.repair && !opts.output) throw new CliError('verify --repair needs -o <file> (the damaged file is never written in place)');
  if (opts.output && !opts.repair) throw new CliError('-o is for verify --repair');
  const { session, diagnostics } = openOrFail(file);
  const status = verifyReport(file, session, diagnostics);
  if (!opts.repair || !opts.output) return status;
  if (existsSync(opts.output) && realpathSync(opts.output) === realpathSync(file)) throw new CliError('verify --repair -o must name a new file, not the damaged one');
  const { repairSession } = await import('../repair.ts');
  const r = repairSession(session, opts.output);
  out(`Repaired: ${fmtInt(r.events)} events, ${fmtInt(r.notes)} note operations and ${fmtInt(r.keyframes)} keyframes written to ${opts.output}.\n`);
  return status;
}

function verifyReport(file: string, session: SessionReader, diagnostics: Diagnostic[]): number {
  // decode every chunk: a chunk that passes its checksum but does not decode is reported
  let chunks = 0;
  for (const lane of session.lanes)
    for (const ch of lane.chunks) {
      session.checkChunk(ch);
      chunks++;
    }
  const keyframes = session.verifyKeyframes();
  for (const problem of keyframes.problems) diagnostics.push({ severity: 'dataLoss', code: 'keyframe_mismatch', message: `${problem[0]!.toUpperCase()}${problem.slice(1)}.` });
  const status = statusOf(diagnostics);
  const head = `${file}: ${fmtInt(session.eventCount)} events in ${fmtInt(chunks)} event chunks, t = ${fmtNs(session.startNs)} .. ${fmtNs(session.endNs)}`;
  const kfLine =
    keyframes.checked === 0
      ? 'keyframes: none in the file (state at a time is rebuilt by replaying from the start)'
      : `keyframes: ${fmtInt(keyframes.checked)} checked against a replay of the events, ${keyframes.problems.length === 0 ? 'all match' : `${keyframes.problems.length} differ`}`;
  if (diagnostics.length === 0) {
    out(`${head}\nOK: every chunk's checksum and contents verified, the index matches, the recording is complete.\n${kfLine}\n`);
    return EXIT.ok;
  }
  out(head + '\n' + kfLine + '\n');
  out(diagnostics.map(fmtDiag).join('\n') + '\n');
  if (status === EXIT.dataLoss) out(`DATA LOSS: the session opens, but what the lines above describe is gone; everything else verified.\n`);
  else if (status === EXIT.ok) out('OK: nothing was lost (the notes above are informational).\n');
  return status;
}
