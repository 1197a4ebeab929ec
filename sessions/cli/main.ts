/**
 * The `mmu-lab` command line. Every command has --help; bad input gets one clear line on
 * stderr and a non-zero exit, never a stack trace.
 *
 * Exit status: 0 success (a session with only `info` diagnostics is clean), 1 error,
 * 2 the session opened but data was lost (verify, info), 64 usage errors from commander are 1.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, statSync, writeSync } from 'node:fs';
import { nonRegularKind, notRegularMessage } from '../fileKind.ts';
import { basename, extname, join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { Scenario } from '../../core/scenario.ts';
import type { Diagnostic, SessionReader } from '../reader.ts';
import type { SessionTotals } from '../views.ts';

// The heavy modules (the reader, the engine's scenario schema, exporters, importers) load when a
// command runs, not at start: `--version` and `--help` evaluate commander only (issue 16 §5).
// The names are bound once by loadCommandModules(), before any command body runs.
let parseYaml: typeof import('yaml').parse;
let parseScenario: typeof import('../../core/scenario.ts').parseScenario;
let openSession: typeof import('../reader.ts').openSession;
let exportChrome: typeof import('../export.ts').exportChrome;
let exportCsvAll: typeof import('../export.ts').exportCsvAll;
let exportCsvTable: typeof import('../export.ts').exportCsvTable;
let exportJsonl: typeof import('../export.ts').exportJsonl;
let presentTypes: typeof import('../export.ts').presentTypes;
let renderReport: typeof import('../report/html.ts').renderReport;
let ReportError: typeof import('../report/exportFile.ts').ReportError;
let exportSessionFile: typeof import('../report/exportFile.ts').exportSessionFile;
let fmtInt: typeof import('../format.ts').fmtInt;
let fmtNs: typeof import('../format.ts').fmtNs;
let ratio: typeof import('../views.ts').ratio;
let sessionTotals: typeof import('../views.ts').sessionTotals;
let importInfoJson: typeof import('./importCmd.ts').importInfoJson;
let importInfoText: typeof import('./importCmd.ts').importInfoText;
let importHostLanes: typeof import('./importCmd.ts').importHostLanes;

async function loadCommandModules(): Promise<void> {
  const [yaml, scenario, reader, exporters, html, exportFile, format, views, importCmd] = await Promise.all([
    import('yaml'),
    import('../../core/scenario.ts'),
    import('../reader.ts'),
    import('../export.ts'),
    import('../report/html.ts'),
    import('../report/exportFile.ts'),
    import('../format.ts'),
    import('../views.ts'),
    import('./importCmd.ts'),
  ]);
  // yaml is CommonJS: a dynamic import of it from the ES-module bundle gives its exports as `default`.
  parseYaml = yaml.default.parse;
  ({ parseScenario } = scenario);
  ({ openSession } = reader);
  ({ exportChrome, exportCsvAll, exportCsvTable, exportJsonl, presentTypes } = exporters);
  ({ renderReport } = html);
  ({ ReportError, exportSessionFile } = exportFile);
  ({ fmtInt, fmtNs } = format);
  ({ ratio, sessionTotals } = views);
  ({ importInfoJson, importInfoText, importHostLanes } = importCmd);
}

declare const __MMULAB_VERSION__: string | undefined;

/** The package's version: put into the bundle at build time, else read from package.json (running from source). */
function packageVersion(): string {
  if (typeof __MMULAB_VERSION__ === 'string') return __MMULAB_VERSION__;
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export const EXIT = { ok: 0, error: 1, dataLoss: 2 } as const;

/** A failure to report as one line on stderr. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status: number = EXIT.error,
  ) {
    super(message);
  }
}

function writeAll(fd: number, text: string): void {
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

const out = (s: string) => writeAll(1, s);
const err = (s: string) => writeAll(2, s);

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function openOrFail(file: string): { session: SessionReader; diagnostics: Diagnostic[] } {
  const { session, diagnostics } = openSession(file);
  if (!session) {
    const first = diagnostics.find((d) => d.severity === 'error') ?? diagnostics[0];
    const msg = first ? first.message : 'not a readable session';
    throw new CliError(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
  return { session, diagnostics };
}

function statusOf(diagnostics: Diagnostic[]): number {
  if (diagnostics.some((d) => d.severity === 'error')) return EXIT.error;
  if (diagnostics.some((d) => d.severity === 'dataLoss')) return EXIT.dataLoss;
  return EXIT.ok;
}

/** Warn on stderr about every loss found from diagnostic `from` on; the exit status for what was found. */
function warnLosses(file: string, diagnostics: Diagnostic[], from = 0): number {
  for (const d of diagnostics.slice(from)) if (d.severity !== 'info') err(`mmu-lab: warning: ${file}: ${d.message}\n`);
  return statusOf(diagnostics);
}

function fmtDiag(d: Diagnostic): string {
  const sev = d.severity === 'dataLoss' ? 'data loss' : d.severity;
  return `  [${sev}] ${d.code}: ${d.message}`;
}

/** A scenario from a JSON/YAML file, or a built-in by name. */
async function loadScenario(ref: string): Promise<Scenario> {
  let input: unknown;
  if (existsSync(ref)) {
    let text: string;
    // never opened: reading a named pipe waits for a writer, a device may never end
    const st = statSync(ref, { throwIfNoEntry: false });
    const kind = st && nonRegularKind(st);
    if (kind) throw new CliError(notRegularMessage(ref, kind, 'scenario file', 'reads'));
    try {
      text = readFileSync(ref, 'utf8');
    } catch (e) {
      throw new CliError(`${ref}: cannot read the scenario file (${(e as { code?: string }).code ?? 'error'})`);
    }
    const ext = extname(ref).toLowerCase();
    try {
      if (ext === '.json') input = JSON.parse(text);
      else if (ext === '.yaml' || ext === '.yml') input = parseYaml(text);
      else {
        try {
          input = JSON.parse(text);
        } catch {
          input = parseYaml(text);
        }
      }
    } catch (e) {
      const kind = ext === '.json' ? 'JSON' : ext === '.yaml' || ext === '.yml' ? 'YAML' : 'JSON or YAML';
      throw new CliError(`${ref}: not valid ${kind}: ${oneLine((e as Error).message)}`);
    }
    const parsed = parseScenario(input);
    if (!parsed.ok) throw new CliError(`${ref}: invalid scenario: ${oneLine(parsed.error)}`);
    return parsed.value;
  }
  const { findBuiltin } = await import('../../core/builtins.ts');
  const builtin = findBuiltin(ref);
  if (!builtin) {
    if (/[/\\.]/.test(ref)) throw new CliError(`${ref}: no such file`);
    throw new CliError(`"${ref}" is neither a scenario file nor a built-in scenario (see: mmu-lab scenarios)`);
  }
  const parsed = parseScenario(builtin.scenario);
  if (!parsed.ok) throw new CliError(`built-in scenario ${ref} is invalid: ${oneLine(parsed.error)}`);
  return parsed.value;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function table(rows: string[][], rightFrom = 1): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => '  ' + r.map((c, i) => pad(c, widths[i]!, i >= rightFrom)).join('  ').trimEnd()).join('\n') + '\n';
}

function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(2)}%` : '-';
}

/** What info prints (its --json shape, a documented contract); the totals come from views.ts like the API's. */
function infoJson(file: string, session: SessionReader, diagnostics: Diagnostic[], totals: SessionTotals) {
  const s = session.summary();
  const c = totals.counters;
  return {
    file,
    scenarioName: s.scenarioName,
    producer: session.header.producer,
    formatMajor: session.header.formatMajor,
    seed: session.header.seed,
    complete: s.complete,
    vms: s.vms,
    vcpus: s.vcpus,
    events: totals.events,
    exits: totals.exits,
    startNs: s.startNs,
    endNs: s.endNs,
    durationNs: totals.simNs,
    eventsByType: s.eventsByType,
    exitsByReason: s.exitsByReason,
    exitsByHandling: c.exitsByHandling,
    exitNsByReason: c.exitNsByReason,
    ...(s.completeness ? { completeness: s.completeness } : {}),
    diagnostics,
    ...importInfoJson(session),
  };
}

function cmdInfo(file: string, opts: { json?: boolean }): number {
  const { session, diagnostics } = openOrFail(file);
  // every event chunk's checksum (read, not decoded): a loss inside a body the index does not
  // need is found too, so the exit status says whether data was lost
  for (const lane of session.lanes) for (const ch of lane.chunks) session.checksumChunk(ch);
  const totals = sessionTotals(session);
  const j = infoJson(file, session, diagnostics, totals);
  if (opts.json) {
    out(JSON.stringify(j, null, 2) + '\n');
    return statusOf(diagnostics);
  }
  const c = totals.counters;
  const lines: string[] = [];
  lines.push(`Session    ${basename(file)}`);
  lines.push(`Scenario   ${j.scenarioName || '(unnamed)'}, seed ${j.seed}`);
  lines.push(`Producer   ${j.producer} (format ${j.formatMajor})`);
  lines.push(`Status     ${j.complete ? 'complete' : 'incomplete'}`);
  if (j.completeness) {
    // a cut recording: say how far each lane, and all of them, can be trusted
    lines.push(`Complete   all vCPUs up to t = ${fmtNs(j.completeness.allLanesNs)}; after that some vCPUs' events may be missing`);
    for (const l of j.completeness.lanes)
      lines.push(`             VM ${l.vm} vCPU ${l.vcpu}: complete up to ${l.events ? `t = ${fmtNs(l.completeNs)}` : 'its start (no event readable)'}`);
  }
  // an imported trace's host lane (host kernel threads) is a lane, not a vCPU
  const hostLanes = importHostLanes(session);
  const lanesText = (n: number, i: number) => {
    const v = hostLanes[i] === undefined ? n : n - 1;
    return `VM ${i}: ${v} vCPU${v === 1 ? '' : 's'}${hostLanes[i] === undefined ? '' : ' + host lane'}`;
  };
  lines.push(`VMs        ${j.vms} (${session.header.vcpus.map(lanesText).join(', ')})`);
  lines.push(`Duration   ${fmtNs(j.durationNs)} simulated`);
  lines.push(`Events     ${fmtInt(j.events)}, of which ${fmtInt(j.exits)} VM exits`);
  out(lines.join('\n') + '\n\n');
  const types = Object.entries(j.eventsByType).sort((a, b) => b[1] - a[1]);
  if (types.length) {
    out('Events by type\n');
    out(table(types.map(([k, v]) => [k, fmtInt(v), pct(v, j.events)])));
    out('\n');
  }
  if (j.exits > 0) {
    const totalNs = totals.exitNs;
    const rows = [['VM-EXIT', 'Samples', 'Samples%', 'Time%', 'Min Time', 'Max Time', 'Avg time']];
    for (const [reason, n] of Object.entries(c.exitsByReason).sort((a, b) => b[1] - a[1])) {
      const ns = c.exitNsByReason[reason] ?? 0;
      rows.push([
        reason,
        String(n),
        pct(n, j.exits),
        pct(ns, totalNs),
        `${c.exitMinNsByReason[reason] ?? 0}ns`,
        `${c.exitMaxNsByReason[reason] ?? 0}ns`,
        `${(ns / n).toFixed(2)}ns`,
      ]);
    }
    out('Analyze events for all VMs, all VCPUs:\n\n');
    out(table(rows));
    out(`\nTotal Samples:${j.exits}, Total events handled time:${totalNs}ns.\n\n`);
  }
  out('Per vCPU\n');
  out(table([['VM', 'vCPU', 'Events', 'Exits'], ...j.vcpus.map((v) => [String(v.vm), String(v.vcpu), fmtInt(v.events), fmtInt(v.exits)])], 0));
  out(importInfoText(session, table));
  if (diagnostics.length) {
    out('\nDiagnostics\n');
    out(diagnostics.map(fmtDiag).join('\n') + '\n');
  }
  return statusOf(diagnostics);
}

async function cmdVerify(file: string, opts: { repair?: boolean; output?: string } = {}): Promise<number> {
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

function cmdExport(file: string, opts: { format: string; output?: string; from?: string; to?: string; title?: string }): number | Promise<number> {
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

function cmdCompare(a: string, b: string, opts: { json?: boolean }): number {
  const A = openOrFail(a);
  const B = openOrFail(b);
  const ta = sessionTotals(A.session);
  const tb = sessionTotals(B.session);
  const sa = infoJson(a, A.session, A.diagnostics, ta);
  const sb = infoJson(b, B.session, B.diagnostics, tb);
  const metrics: [string, number, number][] = [
    ['simulated ns', ta.simNs, tb.simNs],
    ['events', ta.events, tb.events],
    ['vmexits', ta.exits, tb.exits],
    ['exit handling ns', ta.exitNs, tb.exitNs],
    ['guest faults', ta.faults, tb.faults],
  ];
  const reasons = [...new Set([...Object.keys(sa.exitsByReason), ...Object.keys(sb.exitsByReason)])].sort();
  const types = [...new Set([...Object.keys(sa.eventsByType), ...Object.keys(sb.eventsByType)])].sort();
  if (opts.json) {
    const row = ([name, x, y]: [string, number, number]) => ({ name, a: x, b: y, ratio: ratio(x, y) });
    out(
      JSON.stringify(
        {
          a: { file: a, scenarioName: sa.scenarioName, complete: sa.complete, diagnostics: A.diagnostics },
          b: { file: b, scenarioName: sb.scenarioName, complete: sb.complete, diagnostics: B.diagnostics },
          metrics: metrics.map(row),
          exitsByReason: reasons.map((r) => row([r, sa.exitsByReason[r] ?? 0, sb.exitsByReason[r] ?? 0])),
          eventsByType: types.map((t) => row([t, sa.eventsByType[t] ?? 0, sb.eventsByType[t] ?? 0])),
        },
        null,
        2,
      ) + '\n',
    );
    return EXIT.ok;
  }
  const fmtRatio = (x: number, y: number) => {
    const r = ratio(x, y);
    return r === null ? (y === 0 ? '-' : 'new') : `${r.toFixed(2)}x`;
  };
  out(`a: ${a} (${sa.scenarioName})\nb: ${b} (${sb.scenarioName})\n\n`);
  out(table([['', 'a', 'b', 'b/a'], ...metrics.map(([n, x, y]) => [n, fmtInt(x), fmtInt(y), fmtRatio(x, y)])]));
  if (reasons.length) {
    out('\nExits by reason\n');
    out(table([['reason', 'a', 'b', 'b/a'], ...reasons.map((r) => [r, fmtInt(sa.exitsByReason[r] ?? 0), fmtInt(sb.exitsByReason[r] ?? 0), fmtRatio(sa.exitsByReason[r] ?? 0, sb.exitsByReason[r] ?? 0)])]));
  }
  out('\nEvents by type\n');
  out(table([['type', 'a', 'b', 'b/a'], ...types.map((t) => [t, fmtInt(sa.eventsByType[t] ?? 0), fmtInt(sb.eventsByType[t] ?? 0), fmtRatio(sa.eventsByType[t] ?? 0, sb.eventsByType[t] ?? 0)])]));
  for (const [name, r] of [
    ['a', A],
    ['b', B],
  ] as const)
    if (r.diagnostics.length) out(`\nDiagnostics of ${name}\n` + r.diagnostics.map(fmtDiag).join('\n') + '\n');
  return EXIT.ok;
}

async function cmdScenarios(opts: { json?: boolean }): Promise<number> {
  const { BUILTIN_SCENARIOS } = await import('../../core/builtins.ts');
  if (opts.json) {
    out(JSON.stringify(BUILTIN_SCENARIOS.map(({ name, title, description }) => ({ name, title, description })), null, 2) + '\n');
    return EXIT.ok;
  }
  out(table([['NAME', 'TITLE'], ...BUILTIN_SCENARIOS.map((s) => [s.name, s.title])], 99));
  out('\nRecord one with: mmu-lab record <name> (into the sessions folder the app lists; -o <file> to choose)\n');
  return EXIT.ok;
}

type RecordCliOptions = { output?: string; seed?: string; maxEvents?: string; limit?: boolean; quiet?: boolean; audit?: boolean };

async function cmdRecord(ref: string, opts: RecordCliOptions): Promise<number> {
  const seed = opts.seed === undefined ? undefined : Number(opts.seed);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 2 ** 32 - 1))
    throw new CliError(`--seed must be an integer from 0 to 4294967295 (got "${opts.seed}")`);
  const maxEvents = opts.maxEvents === undefined ? undefined : Number(opts.maxEvents);
  if (maxEvents !== undefined && !(Number.isInteger(maxEvents) && maxEvents > 0))
    throw new CliError(`--max-events must be a positive integer (got "${opts.maxEvents}")`);
  if (maxEvents !== undefined && opts.limit === false) throw new CliError('--max-events and --no-limit contradict each other; give one');
  const scenario = await loadScenario(ref);
  const { recordScenario, DEFAULT_MAX_EVENTS } = await import('../record.ts');
  const { RecordProgress } = await import('./progress.ts');
  // Without --max-events a recording stops at the default bound, unless --no-limit lifts it.
  const bound =
    opts.limit === false
      ? undefined
      : { maxEvents: maxEvents ?? DEFAULT_MAX_EVENTS, isDefault: maxEvents === undefined, lift: 'record with --no-limit' };
  const progress = opts.quiet
    ? undefined
    : new RecordProgress({ write: err, tty: process.stderr.isTTY === true, vms: scenario.vms.length, ...(bound ? { maxEvents: bound.maxEvents } : {}) });
  // Without -o the session goes where the app lists sessions (issue 17 §1), under a free name.
  const output = opts.output ?? (await import('../dataDirs.ts')).newSessionPath(scenario.name);
  const started = performance.now();
  let r;
  try {
    r = recordScenario(scenario, output, {
      ...(seed !== undefined ? { seed } : {}),
      ...(bound ? { bound } : {}),
      ...(opts.audit ? { audit: true } : {}),
      ...(progress ? { progressEvery: 8192, onProgress: (events, at) => progress.update(events, at.vm, at.vmEvents) } : {}),
    });
  } catch (e) {
    progress?.done();
    // the writer's own failure says what the file holds (a full disk: an incomplete file, or none)
    if ((e as Error)?.name === 'SessionWriteError') throw new CliError((e as Error).message);
    const code = (e as { code?: string }).code;
    if (code) throw new CliError(`${output}: cannot write the session (${code})`);
    throw new CliError(`recording failed: ${oneLine((e as Error)?.message ?? String(e))}`);
  }
  const ms = performance.now() - started;
  progress?.done();
  if (!opts.quiet)
    out(
      `Recorded ${fmtInt(r.events)} events (${fmtInt(r.exits)} VM exits) of "${scenario.name}" to ${output} in ${(ms / 1000).toFixed(2)} s` +
        (r.complete ? '\n' : ` — incomplete: ${r.message}\n`) +
        (opts.output ? '' : 'That is the sessions folder the app lists (mmu-lab where); open it with: mmu-lab serve\n'),
    );
  return EXIT.ok;
}

/** What a caller (electron/host/cli.ts) gets to add commands of its own to the program. */
export interface CliExtension {
  program: Command;
  /** Wraps a command body that imports what it needs: its exit status set, its CliError printed as one line. */
  run: <A extends unknown[]>(fn: (...args: A) => number | Promise<number>) => (...args: A) => Promise<void>;
  out: (s: string) => void;
  err: (s: string) => void;
}

export function buildProgram(setStatus: (n: number) => void, extend?: (cli: CliExtension) => void): Command {
  const program = new Command('mmu-lab')
    .description('MMU Lab: simulate how a hypervisor virtualizes guest memory, record sessions, inspect and export them.')
    .version(packageVersion())
    .configureOutput({ writeOut: out, writeErr: err });
  const run =
    <A extends unknown[]>(fn: (...args: A) => number | Promise<number>) =>
    async (...args: A) => {
      await loadCommandModules();
      setStatus(await fn(...args));
    };
  /** For commands that import what they need themselves (scenarios, lab, and the host's). */
  const runOwn =
    <A extends unknown[]>(fn: (...args: A) => number | Promise<number>) =>
    async (...args: A) => {
      setStatus(await fn(...args));
    };

  program
    .command('scenarios')
    .description('list the built-in scenarios')
    .option('--json', 'print as JSON')
    .action(runOwn((opts: { json?: boolean }) => cmdScenarios(opts)));

  program
    .command('record')
    .description('run a scenario (a JSON or YAML file, or a built-in name) and record it as a session')
    .argument('<scenario>', 'scenario file (.json, .yaml) or built-in scenario name')
    .option('-o, --output <file>', 'the session file to write (.mmulab; default: a new file in the sessions folder, see mmu-lab where)')
    .option('--seed <n>', "override the scenario's seed")
    .option('--max-events <n>', 'stop each VM after this many events (default: 5000000, the default bound)')
    .option('--no-limit', 'lift the default bound: record until every VM ends (a scenario that never ends runs until stopped)')
    .option('-q, --quiet', 'print nothing on success (and no progress)')
    .option('--audit', 'run the MMU auditor while recording: broken invariants become audit_violation events (slower)')
    .addHelpText('after', '\nProgress goes to stderr after the first second: a bar on a terminal, a line every 5 s otherwise.')
    .action(run((ref: string, opts: RecordCliOptions) => cmdRecord(ref, opts)));

  program
    .command('info')
    .description('show what a session holds: VMs, vCPUs, duration, events, exits by reason, diagnostics')
    .argument('<file>', 'a .mmulab session')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExit status: 0 clean, 2 the session opened but data was lost, 1 error.')
    .action(run((file: string, opts: { json?: boolean }) => cmdInfo(file, opts)));

  program
    .command('export')
    .description('export a session as JSONL, CSV, Chrome trace event JSON, or an HTML or PDF report')
    .argument('<file>', 'a .mmulab session')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl', 'csv', 'chrome', 'html', 'pdf']).makeOptionMandatory())
    .option('-o, --output <path>', 'write here instead of stdout (for csv: a directory, one <type>.csv per event type; required for pdf)')
    .option('--from <event>', 'html/pdf: the page-table diff starts just after this event index (default 0)')
    .option('--to <event>', 'html/pdf: the page-table diff ends just after this event index (default: the last event)')
    .option('--title <text>', 'html/pdf: the report title (default: the file name)')
    .addHelpText(
      'after',
      '\nWithout -o, csv prints every table to stdout, each after a line "# <type>" and followed by a blank line.\n' +
        'The html report is one self-contained page (summary, exits by reason, per-vCPU timeline, notes, page-table diff);\n' +
        'pdf prints it with the system Chromium (/usr/bin/chromium, or $MMU_LAB_CHROMIUM).',
    )
    .action(run((file: string, opts: { format: string; output?: string; from?: string; to?: string; title?: string }) => cmdExport(file, opts)));

  program
    .command('verify')
    .description('check every checksum, the index and every chunk of a session; say exactly what was lost')
    .argument('<file>', 'a .mmulab session')
    .option('--repair', 'also write what can be read as a new, clean session (needs -o)')
    .option('-o, --output <file>', 'where --repair writes (never the damaged file itself)')
    .addHelpText('after', '\nExit status: 0 clean (or informational notes only), 2 data loss, 1 error (not readable).')
    .action(run((file: string, opts: { repair?: boolean; output?: string }) => cmdVerify(file, opts)));

  program
    .command('compare')
    .description("put two sessions side by side: time, exits per reason, faults, ratios; or a student's session against a lab's reference")
    .argument('<a>', 'first session (with --lab: the student\'s session)')
    .argument('[b]', 'second session (with --lab: left out, the lab\'s reference session is recorded)')
    .option('--json', 'print as JSON')
    .option('--lab <name>', "compare <a> against the reference session of this bundled lab")
    .option('--scenario <id>', "with --lab: which of the lab's scenarios (default: its first)")
    .action(
      run(async (a: string, b: string | undefined, opts: { json?: boolean; lab?: string; scenario?: string }) => {
        if (opts.lab) {
          if (b) throw new CliError('give either a second session or --lab, not both');
          const { referenceSession } = await import('../labs/cli.ts');
          return cmdCompare(a, await referenceSession(opts.lab, opts.scenario), opts);
        }
        if (!b) throw new CliError('compare needs two sessions, or one session and --lab <name>');
        return cmdCompare(a, b, opts);
      }),
    );

  program
    .command('import')
    .description("import a trace-cmd trace.dat, or trace-cmd report, raw ftrace or perf script text (detected from the content), as a session")
    .argument('<trace>', 'trace.dat or trace text file')
    .option('-o, --output <file>', 'the session file to write (default: the trace name with .mmulab)')
    .option('--progress', 'show progress on stderr (shown anyway for files of 32 MiB and more)')
    .option('-q, --quiet', 'print nothing on success')
    .addHelpText('after', '\nCtrl-C stops the import and keeps what was read as a session marked incomplete. See docs/import.md.')
    .action(
      // only the import's own modules: the scenario parser (zod) and yaml the other commands load
      // cost ~40 ms CPU at every start, a large part of importing a small trace
      runOwn(async (trace: string, opts: { output?: string; progress?: boolean; quiet?: boolean }) => {
        const own = await import('./importCmd.ts');
        try {
          return await own.cmdImport(out, err, trace, opts);
        } catch (e) {
          throw e instanceof own.ImportCliError ? new CliError(e.message) : e;
        }
      }),
    );

  program
    .command('capture')
    .description("record this host's KVM (kvm and kvmmmu tracepoints, in a tracefs instance of its own) into a session as it runs")
    .argument('[command...]', 'a command to run and trace (after --); without one, every VM on the host, or --pid')
    .option('-o, --output <file>', 'the session file to write (default: capture-<date>.mmulab)')
    .option('--duration <time>', 'stop after this long (10s, 500ms, 2m)')
    .option('--pid <pid...>', 'trace only this process (and the threads and children it starts)')
    .option('-q, --quiet', 'print nothing on success')
    .addHelpText('after', '\nNeeds root, tracefs and /dev/kvm. Stops at --duration, when the command exits, or on Ctrl-C. See docs/import.md.')
    .action(
      run(async (command: string[], opts: { output?: string; duration?: string; pid?: string[]; quiet?: boolean }) => {
        const { cmdCapture, CaptureCliError } = await import('../capture/cmd.ts');
        const { CaptureUnavailable } = await import('../capture/tracefs.ts');
        try {
          return await cmdCapture(out, err, command, opts);
        } catch (e) {
          throw e instanceof CaptureCliError || e instanceof CaptureUnavailable ? new CliError(`capture: ${e.message}`) : e;
        }
      }),
    );

  const lab = program.command('lab').description('list or run the bundled course labs (docs/labs.md)');
  lab
    .command('list')
    .description('list the bundled labs')
    .option('--json', 'print as JSON')
    .action(runOwn(async (opts: { json?: boolean }) => (await import('../labs/cli.ts')).cmdLabList(out, opts)));
  lab
    .command('run')
    .description("record a lab's scenarios, evaluate its checks and grade the answers (for autograding)")
    .argument('<name>', 'a bundled lab name (mmu-lab lab list) or a lab folder')
    .option('--answers <file>', 'the student\'s answers (YAML or JSON: question id -> answer); every graded question must then be right')
    .option('-o, --output <dir>', 'record the sessions here (default: a new temporary folder, printed)')
    .option('--json', 'print the result as JSON')
    .option('--report <file>', 'also write the report: self-contained HTML, or PDF when the name ends in .pdf (needs Chromium)')
    .option('--student <name>', 'the name printed on the report')
    .addHelpText('after', '\nExit status: 0 every check (and answer) passed, 3 a check or an answer failed (named on stderr), 1 error.')
    .action(
      runOwn(async (name: string, opts: { answers?: string; output?: string; json?: boolean; report?: string; student?: string }) =>
        (await import('../labs/cli.ts')).cmdLabRun(out, err, name, opts),
      ),
    );
  extend?.({ program, run: runOwn, out, err });
  return program;
}

export async function main(argv: string[], extend?: (cli: CliExtension) => void): Promise<number> {
  let status: number = EXIT.ok;
  const program = buildProgram((n) => (status = n), extend);
  program.exitOverride();
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.error;
    if (e instanceof CliError) {
      err(`mmu-lab: ${e.message}\n`);
      return e.status;
    }
    err(`mmu-lab: ${oneLine((e as Error)?.message ?? String(e))}\n`);
    return EXIT.error;
  }
  return status;
}

// The `mmu-lab` entry is electron/host/cli.ts: these commands plus the host's (serve, where).
