/**
 * `mmu-lab capture -o out.mmulab [--duration 10s] [--pid N] [-- command ...]`: record this
 * host's KVM (the kvm and kvmmmu tracepoints) into a session as it runs. With a command, only
 * that command's threads are traced, from its first instruction to its exit; with --pid, that
 * process's; otherwise every KVM user on the host. Stops at the duration, when the command ends,
 * or on Ctrl-C; the session keeps everything recorded until then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { importRecords } from '../import/records.ts';
import type { ImportResult } from '../import/index.ts';
import { Capture, type CaptureOptions } from './capture.ts';

type Write = (s: string) => void;

export class CaptureCliError extends Error {}

export interface CaptureCmdOptions {
  output?: string;
  duration?: string;
  pid?: string[];
  quiet?: boolean;
}

/** `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new CaptureCliError(`--duration ${text}: give a time such as 10s, 500ms or 2m`);
  const n = Number(m[1]);
  const ms = n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (!(ms > 0) || ms > 24 * 3_600_000) throw new CaptureCliError(`--duration ${text}: between 1 ms and 24 h`);
  return ms;
}

function defaultOutput(): string {
  return `capture-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.mmulab`;
}

export interface CaptureRun {
  result: ImportResult;
  capture: Capture;
  exitCode?: number | null;
}

/** Capture into `output` until `until` resolves, the duration passes, or the command exits. */
export async function runCapture(
  output: string,
  o: CaptureOptions & {
    durationMs?: number;
    command?: string[];
    stopSignal?: AbortSignal;
    onStart?: (c: Capture) => void;
    /** The command's standard output (default: this process's). */
    onOutput?: (text: string) => void;
    speculateAfter?: number;
  },
): Promise<CaptureRun> {
  const capture = new Capture(o);
  let child: ChildProcess | undefined;
  let exitCode: number | null | undefined;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      capture.stop();
      resolve();
    };
    if (o.durationMs) setTimeout(stop, o.durationMs).unref();
    o.stopSignal?.addEventListener('abort', stop, { once: true });
    if (o.command?.length) {
      // The command waits on its stdin until its pid is followed, so its first event is traced.
      child = spawn('/bin/sh', ['-c', 'read _go; exec "$@"', 'sh', ...o.command], { stdio: ['pipe', o.onOutput ? 'pipe' : 'inherit', 'inherit'] });
      child.stdout?.setEncoding('utf8').on('data', (t: string) => o.onOutput?.(t));
      child.on('exit', (code) => {
        exitCode = code;
        stop();
      });
      child.on('error', stop);
      capture.follow([child.pid!]);
    }
  });
  capture.start();
  o.onStart?.(capture);
  child?.stdin?.end('\n');
  const importing = importRecords(capture.source(basename(output)), output, { speculateAfter: o.speculateAfter ?? 512 });
  await stopped;
  const result = await importing;
  return { result, capture, exitCode };
}

export async function cmdCapture(out: Write, err: Write, command: string[], opts: CaptureCmdOptions): Promise<number> {
  const output = opts.output ?? defaultOutput();
  const durationMs = opts.duration ? parseDuration(opts.duration) : undefined;
  const pids = (opts.pid ?? []).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n <= 0) throw new CaptureCliError(`--pid ${p}: a process id is a positive whole number`);
    try {
      process.kill(n, 0);
    } catch {
      throw new CaptureCliError(`--pid ${p}: no such process`);
    }
    return n;
  });
  if (pids.length && command.length) throw new CaptureCliError('give either --pid or a command to run, not both');
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.on('SIGINT', onSigint);
  try {
    // said once tracing is on, not before: a guest started on seeing it must be recorded
    const onStart = () => {
      if (!opts.quiet)
        err(
          `capture: recording kvm events${command.length ? ` of ${command[0]}` : pids.length ? ` of pid ${pids.join(', ')}` : ' of every VM on this host'}` +
            `${durationMs ? ` for ${durationMs / 1000} s` : ''}${command.length ? ' until it exits' : ''}; Ctrl-C stops\n`,
        );
    };
    const run = await runCapture(output, { pids, durationMs, command, stopSignal: ac.signal, onStart });
    const { result, capture } = run;
    if (!opts.quiet) {
      if (capture.removedStale.length) err(`capture: removed tracefs instances left by earlier captures: ${capture.removedStale.join(', ')}\n`);
      if (capture.stats.lost) err(`capture: the kernel dropped ${capture.stats.lost} events (its buffer filled faster than it was read)\n`);
    }
    if (!result.ok) throw new CaptureCliError(result.records === 0 ? `no kvm events were recorded${command.length ? ` while ${command[0]} ran` : ''}; nothing written` : result.message);
    if (!opts.quiet) out(`${result.message}\nWrote ${output}\n`);
    if (run.exitCode) err(`capture: ${command[0]} exited with status ${run.exitCode}\n`);
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
