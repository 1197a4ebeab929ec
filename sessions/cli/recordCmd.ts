/**
 * `mmu-lab record`: run a scenario (a JSON or YAML file, or a built-in by name) and record it
 * as a session, with progress on stderr and the default bound on its length.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parseScenario, type Scenario } from '../../core/scenario.ts';
import { nonRegularKind, notRegularMessage } from '../fileKind.ts';
import { fmtInt } from '../format.ts';
import { err, oneLine, out } from './output.ts';
import { CliError, EXIT } from './status.ts';

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
      else if (ext === '.yaml' || ext === '.yml') input = await parseYaml(text);
      else {
        try {
          input = JSON.parse(text);
        } catch {
          input = await parseYaml(text);
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

/** yaml is CommonJS: a dynamic import of it from the ES-module bundle gives its exports as `default`. */
async function parseYaml(text: string): Promise<unknown> {
  return (await import('yaml')).default.parse(text);
}

export type RecordCliOptions = { output?: string; seed?: string; maxEvents?: string; limit?: boolean; quiet?: boolean; audit?: boolean };

export async function cmdRecord(ref: string, opts: RecordCliOptions): Promise<number> {
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
