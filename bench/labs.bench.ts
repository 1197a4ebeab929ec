/**
 * Labs: how long `mmu-lab lab run` takes per bundled lab (record every scenario with the
 * auditor on, load the sessions, grade), and what the check language costs over a big session
 * against the same count done by a plain loop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MmuEvent } from '../core/events.ts';
import { findBuiltin } from '../core/builtins.ts';
import { parseScenario } from '../core/scenario.ts';
import { openSession } from '../sessions/reader.ts';
import { recordScenario } from '../sessions/record.ts';
import { bundledLabsDir, findLab, listLabDirs, referenceAnswers } from '../sessions/labs/load.ts';
import { evaluateCheck, loadLabSession, parseCheck, type LabSession } from '../sessions/labs/queries.ts';
import { runLab } from '../sessions/labs/run.ts';
import type { Benchmark } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmu-bench-labs-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function runBundled(name: string): Promise<number> {
  const lab = findLab(name);
  const started = performance.now();
  const r = await runLab(lab, join(dir, `${name}-${Date.now()}`), referenceAnswers(lab));
  const seconds = (performance.now() - started) / 1000;
  if (!r.passed) throw new Error(`${name} does not pass: ${r.failures[0]}`);
  return seconds;
}

let big: LabSession | undefined;
/** kbuild-zap scaled up (200 processes), recorded once: a session of a few hundred thousand events. */
function bigSession(): LabSession {
  if (big) return big;
  const builtin = findBuiltin('kbuild-zap')!;
  const parsed = parseScenario({ ...builtin.scenario, vms: builtin.scenario.vms.map((v) => ({ ...v, guest: { ...v.guest, workload: { kind: 'kbuild', processes: 200, pages: 24 } } })) });
  if (!parsed.ok) throw new Error(parsed.error);
  const file = join(dir, 'big.mmulab');
  recordScenario(parsed.value, file);
  const { session } = openSession(file);
  big = loadLabSession('big', session!);
  return big;
}

const CHECK = 'exitsPerFault("EXCEPTION_NMI") > 2 && auditorViolations() == 0 && events("shadow_page", "action", "alloc", "level", 1) > 0';

function checkLanguage(): number {
  const s = bigSession();
  const tree = parseCheck(CHECK);
  const started = performance.now();
  evaluateCheck(tree, { sessions: new Map([['big', s]]), current: 'big', answers: {}, correct: {} });
  return s.events.length / ((performance.now() - started) / 1000) / 1e6;
}

/** The same three counts as CHECK, by hand, in one loop each (the language scans once per query). */
function plainLoops(): number {
  const s = bigSession();
  const started = performance.now();
  let nmi = 0;
  let faults = 0;
  for (const e of s.events as MmuEvent[]) if (e.type === 'vmexit' && e.reason === 'EXCEPTION_NMI') nmi++;
  for (const e of s.events as MmuEvent[]) if (e.type === 'guest_fault') faults++;
  let audits = 0;
  for (const e of s.events as MmuEvent[]) if (e.type === 'audit_violation') audits++;
  let allocs = 0;
  for (const e of s.events as MmuEvent[]) if (e.type === 'shadow_page' && e.action === 'alloc' && e.level === 1) allocs++;
  const value = nmi / faults > 2 && audits === 0 && allocs > 0;
  const tree = parseCheck(CHECK);
  if (evaluateCheck(tree, { sessions: new Map([['big', s]]), current: 'big', answers: {}, correct: {} }) !== value) throw new Error('the plain loops disagree with the check');
  return s.events.length / ((performance.now() - started) / 1000) / 1e6;
}

export function benchmarks(): Benchmark[] {
  const labs = listLabDirs(bundledLabsDir());
  return [
    ...labs.map(
      (name): Benchmark => ({
        name: `lab-run-${name}`,
        group: 'labs',
        figure: { name: `mmu-lab lab run ${name}: record with the auditor, grade`, unit: 's', better: 'lower' },
        run: () => runBundled(name),
        warmup: 0,
        repetitions: 3,
      }),
    ),
    {
      name: 'lab-check-language',
      group: 'labs',
      figure: { name: 'a three-query check over a kbuild session (millions of events scanned per second)', unit: 'M events/s', better: 'higher' },
      run: checkLanguage,
      baseline: { name: 'the same counts in plain loops', run: plainLoops },
      warmup: 1,
      repetitions: 5,
    },
  ];
}
