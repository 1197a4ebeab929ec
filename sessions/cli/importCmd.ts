/**
 * `mmu-lab import` and what `mmu-lab info` adds for an imported session: where it came from,
 * exits by reason per vCPU, and the lines the importer could not parse, by line number.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { ImportError, type ImportProgress } from '../import/index.ts';
import { importAnyTrace } from '../tracedat/source.ts';
import type { SessionReader } from '../reader.ts';
import { MAGIC, fmtInt } from '../format.ts';

type Write = (s: string) => void;

/** A failure to report as one line (main.ts turns it into `mmu-lab: <message>`, status 1). */
export class ImportCliError extends Error {}

/** Files this big get a progress line on stderr without being asked. */
export const PROGRESS_BYTES = 32 << 20;

export interface ImportCmdOptions {
  output?: string;
  quiet?: boolean;
  progress?: boolean;
}

/** The session path for a trace when -o is left out: the trace's name with `.mmulab`, beside it. */
export function defaultOutput(trace: string): string {
  const ext = extname(trace);
  return join(dirname(trace), basename(trace, ext === '.mmulab' ? '' : ext) + '.mmulab');
}

/** An existing file may be replaced only when it is a session (a rerun); anything else is kept. */
function replaceable(path: string): boolean {
  if (!existsSync(path)) return true;
  try {
    if (!statSync(path).isFile()) return false;
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(MAGIC.length);
      readSync(fd, head, 0, head.length, 0);
      return head.equals(Buffer.from(MAGIC));
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

export async function cmdImport(out: Write, err: Write, trace: string, opts: ImportCmdOptions): Promise<number> {
  if (!existsSync(trace)) throw new ImportCliError(`${trace}: no such file`);
  const output = opts.output ?? defaultOutput(trace);
  if (resolve(output) === resolve(trace)) throw new ImportCliError(`${output}: the session would overwrite the trace; choose another name with -o`);
  if (!replaceable(output)) throw new ImportCliError(`${output} exists and is not an MMU Lab session; not overwritten (choose another name with -o)`);
  // Whether stderr is a terminal is asked once progress is shown: the getter makes the stderr
  // stream and loads tty and net (~2.5 ms CPU for a pipe), which a quiet import never writes to.
  let tty: boolean | undefined;
  let shown = false;
  let last = 0;
  const onProgress = (p: ImportProgress) => {
    if (opts.quiet || !(opts.progress || p.totalBytes >= PROGRESS_BYTES)) return;
    tty ??= process.stderr.isTTY === true;
    const now = performance.now();
    const done = p.phase === 'import' && p.bytes >= p.totalBytes;
    if (!done && now - last < (tty ? 200 : 2000)) return;
    last = now;
    const line = `import: ${(100 * p.fraction).toFixed(0).padStart(3)}% ${p.phase === 'scan' ? 'scanning' : 'importing'} ${fmtInt(p.lines)} lines, ${(p.bytes / 1048576).toFixed(0)} of ${(p.totalBytes / 1048576).toFixed(0)} MiB`;
    err(tty ? `\r${line}\u001b[K` : line + '\n');
    shown = true;
  };
  // Ctrl-C stops the import and keeps what was read, as a session marked incomplete.
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  let r;
  try {
    r = await importAnyTrace(trace, output, { onProgress, signal: ac.signal });
  } catch (e) {
    if (e instanceof ImportError) throw new ImportCliError(e.message);
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (shown && tty) err('\n');
  }
  if (!r.ok) throw new ImportCliError(r.message);
  if (!opts.quiet) {
    out(`${r.message}\n`);
    out(`Wrote ${output}${r.skipped ? ` (the skipped lines are listed by: mmu-lab info ${output})` : ''}\n`);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// info

interface ImportSource {
  kind: 'trace';
  importer: string;
  file: string;
  bytes: number;
  flavour: string;
  evidence: string[];
  isa: string | null;
  lines: number;
  records: number;
  skipped: number;
  skippedLines: { line: number; text: string }[];
  ignored: number;
  rejoined: number;
  cancelledAtLine?: number;
  /** Set when the trace has no kvm_exit: says why and what still works. */
  noExits?: string;
  vms: { vm: number; key: string; vcpus: number; hostLane?: number; threads: { pid: number; comm: string; vcpu: number; by: string }[] }[];
}

/** The import record of a session written by the importer, or undefined for a simulated one. */
export function importSource(session: SessionReader): ImportSource | undefined {
  const sc = session.header.scenario as { source?: { kind?: unknown } } | null;
  const src = sc && typeof sc === 'object' ? sc.source : undefined;
  return src && typeof src === 'object' && src.kind === 'trace' ? (src as ImportSource) : undefined;
}

export interface VcpuReasons {
  vm: number;
  vcpu: number;
  exits: number;
  byReason: Record<string, number>;
}

/** Exits by reason on each vCPU that has any (from the chunks' exit columns). */
export function exitsByVcpuReason(session: SessionReader): VcpuReasons[] {
  const rows: VcpuReasons[] = [];
  for (const lane of session.lanes) {
    // reasons are trace text: a record without a prototype (`constructor` is a reason like any)
    const byReason = Object.create(null) as Record<string, number>;
    let exits = 0;
    for (const ch of lane.chunks)
      for (const reason of session.columns(ch).exitReason) {
        byReason[reason] = (byReason[reason] ?? 0) + 1;
        exits++;
      }
    if (exits) rows.push({ vm: lane.vm, vcpu: lane.vcpu, exits, byReason });
  }
  return rows;
}

/** The host lane of each VM of an imported session (undefined: none). */
export function importHostLanes(session: SessionReader): (number | undefined)[] {
  return importSource(session)?.vms.map((v) => (typeof v.hostLane === 'number' ? v.hostLane : undefined)) ?? [];
}

/** Extra fields of `info --json` for an imported session. */
export function importInfoJson(session: SessionReader): Record<string, unknown> {
  const src = importSource(session);
  if (!src) return {};
  return { import: src, exitsByVcpuReason: exitsByVcpuReason(session) };
}

/** Extra sections of `info` for an imported session. */
export function importInfoText(session: SessionReader, table: (rows: string[][], rightFrom?: number) => string): string {
  const src = importSource(session);
  if (!src) return '';
  const parts: string[] = [];
  parts.push(
    `\nImported from ${src.file} (${src.flavour}${src.isa ? `, ${src.isa.toUpperCase()}` : ''}; ${src.evidence.join('; ')})\n` +
      `  ${fmtInt(src.lines)} lines: ${fmtInt(src.records)} records, ${fmtInt(src.ignored)} headers/comments/blank, ${fmtInt(src.rejoined)} wrapped lines rejoined, ${fmtInt(src.skipped)} not understood` +
      (src.cancelledAtLine !== undefined ? `; cancelled at line ${fmtInt(src.cancelledAtLine)}` : '') +
      '\n' +
      (src.noExits ? `  No exits: ${src.noExits}\n` : ''),
  );
  const threads = src.vms.flatMap((vm) =>
    vm.threads.map((t) => [String(vm.vm), t.by === 'host' ? `${t.vcpu} (host)` : String(t.vcpu), t.comm || '(none)', t.pid >= 0 ? String(t.pid) : '-', t.by]),
  );
  if (threads.length) parts.push('\nThreads\n' + table([['VM', 'vCPU', 'Comm', 'Pid', 'vCPU from'], ...threads], 99));
  const per = exitsByVcpuReason(session);
  if (per.length) {
    const rows = [['VM', 'vCPU', 'VM-EXIT', 'Samples', 'Samples%']];
    for (const v of per)
      for (const [reason, n] of Object.entries(v.byReason).sort((a, b) => b[1] - a[1]))
        rows.push([String(v.vm), String(v.vcpu), reason, fmtInt(n), `${((100 * n) / v.exits).toFixed(2)}%`]);
    parts.push('\nExits by reason per vCPU\n' + table(rows, 3));
  }
  if (src.skipped) {
    const listed = src.skippedLines.map((l) => `  line ${l.line}: ${l.text}`).join('\n');
    const more = src.skipped > src.skippedLines.length ? `\n  ... and ${fmtInt(src.skipped - src.skippedLines.length)} more` : '';
    parts.push(`\nLines not understood (${fmtInt(src.skipped)})\n${listed}${more}\n`);
  }
  return parts.join('');
}
