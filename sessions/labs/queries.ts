/**
 * The session queries a lab check may call: the whitelist of the check language
 * (sessions/labs/expr.ts). Each query reads the recorded events of one session of the lab, in
 * the current time range; nothing else is reachable from an expression. The list with examples
 * is in docs/labs.md; keep the two in step.
 */
import { EVENT_SCHEMAS, isEventType, type MmuEvent } from '../../core/events.ts';
import type { SessionReader } from '../reader.ts';
import { ExprError, StepBudget, evaluate, parseExpr, type FunctionSpec, type FunctionTable, type Node, type Value } from './expr.ts';

/** More events than this in one lab session is not a lab; refuse instead of eating memory. */
export const MAX_LAB_EVENTS = 2_000_000;
/**
 * Steps (events read plus operations) one check may take: ten whole-session queries of a
 * 2-million-event session, about 8 s (the check language reads ~2.5 M events/s, docs/performance.md).
 */
export const CHECK_STEP_BUDGET = 20_000_000;
/** Steps all checks of one grading may take together (about 40 s): 50 checks cannot each take their full share. */
export const LAB_STEP_BUDGET = 100_000_000;

/** One recorded session of a lab, loaded for queries. */
export interface LabSession {
  id: string;
  events: readonly MmuEvent[];
  startNs: number;
  endNs: number;
  complete: boolean;
  /** Why the recording stopped early (e.g. "VM 0 stopped: endless-fault-loop"), if it did. */
  stopMessage: string;
}

export function loadLabSession(id: string, reader: SessionReader): LabSession {
  if (reader.eventCount > MAX_LAB_EVENTS)
    throw new ExprError(`session "${id}" has ${reader.eventCount} events; lab checks read at most ${MAX_LAB_EVENTS}`);
  const events = [...reader.iterate()];
  return { id, events, startNs: reader.startNs, endNs: reader.endNs, complete: reader.complete, stopMessage: reader.stopMessage ?? '' };
}

/** What an expression is evaluated against. */
export interface QueryContext {
  sessions: ReadonlyMap<string, LabSession>;
  /** The session queries read unless wrapped in on(...). */
  current: string;
  /** Inclusive simulated-time range queries read, set by within(...). */
  range?: readonly [number, number];
  /** The student's answers by question id (choice id, number or text); read with Object.hasOwn only. */
  answers: Readonly<Record<string, Value>>;
  /** Whether each answered question is right, by id; read with Object.hasOwn only. */
  correct: Readonly<Record<string, boolean>>;
  /** Charged for every event a query reads (the same budgets evaluate() charges per node). */
  budgets?: readonly StepBudget[];
}

/** A value of a plain record by a name from a lab file or a student: own keys only, never Object.prototype's. */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function session(ctx: QueryContext): LabSession {
  const s = ctx.sessions.get(ctx.current);
  if (!s) throw new ExprError(`the lab has no recorded session "${ctx.current}"`);
  return s;
}

function* inRange(ctx: QueryContext): Generator<MmuEvent> {
  const s = session(ctx);
  const [t0, t1] = ctx.range ?? [-Infinity, Infinity];
  for (const b of ctx.budgets ?? []) b.spend(s.events.length);
  for (const e of s.events) if (e.t >= t0 && e.t <= t1) yield e;
}

function checkField(type: string, field: string): void {
  if (!isEventType(type)) throw new ExprError(`"${type}" is not an event type (one of ${Object.keys(EVENT_SCHEMAS).join(', ')})`);
  if (field === 't' || field === 'vm' || field === 'vcpu') return;
  if (!EVENT_SCHEMAS[type].some((f) => f.name === field))
    throw new ExprError(`"${field}" is not a field of ${type} events (${['t', 'vm', 'vcpu', ...EVENT_SCHEMAS[type].map((f) => f.name)].join(', ')})`);
}

/** A field's value, read only for a field the event table declares (checkField first). */
function fieldOf(e: MmuEvent, field: string): number | bigint | string | undefined {
  const schema = EVENT_SCHEMAS[e.type] as readonly { name: string }[];
  if (field !== 't' && field !== 'vm' && field !== 'vcpu' && !schema.some((f) => f.name === field)) return undefined;
  return (e as unknown as Record<string, number | bigint | string | undefined>)[field];
}

/** Equality of an event field with a literal: numbers and hex strings compare as integers. */
function sameValue(v: number | bigint | string | undefined, want: Value): boolean {
  if (v === undefined) return false;
  if (typeof v === 'string') return v === String(want);
  if (typeof want === 'boolean') return false;
  if (typeof want === 'string' && !/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(want)) return false;
  try {
    return BigInt(v) === BigInt(want);
  } catch {
    return false;
  }
}

/** Field filters as given to events()/distinct(): pairs of a field name and a value. */
type Filter = [string, Value][];

function filters(type: string, rest: Value[]): Filter {
  if (!isEventType(type)) checkField(type, 't');
  const out: Filter = [];
  for (let i = 0; i + 1 < rest.length; i += 2) {
    const f = rest[i]!;
    if (typeof f !== 'string') throw new ExprError(`a field name must be a string, got ${String(f)}`);
    checkField(type, f);
    out.push([f, rest[i + 1]!]);
  }
  if (rest.length % 2) throw new ExprError('a field filter needs a field name and a value');
  return out;
}

function matches(e: MmuEvent, type: string, f: Filter): boolean {
  return e.type === type && f.every(([field, want]) => sameValue(fieldOf(e, field), want));
}

function countWhere(ctx: QueryContext, type: string, ...rest: Value[]): number {
  const f = filters(type, rest);
  let n = 0;
  for (const e of inRange(ctx)) if (matches(e, type, f)) n++;
  return n;
}

function exitCount(ctx: QueryContext, reason?: string, handling?: string): number {
  let n = 0;
  for (const e of inRange(ctx))
    if (e.type === 'vmexit' && (reason === undefined || e.reason === reason) && (handling === undefined || e.handling === handling)) n++;
  return n;
}

function exitsByReason(ctx: QueryContext): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of inRange(ctx)) if (e.type === 'vmexit') m.set(e.reason, (m.get(e.reason) ?? 0) + 1);
  return m;
}

const str = (v: Value | undefined) => (v === undefined ? undefined : String(v));

type Spec = FunctionSpec<QueryContext>;

const fn = (args: Spec['args'], doc: string, f: (ctx: QueryContext, ...a: Value[]) => Value, optional = 0): Spec => ({ args, optional, doc, fn: f });

/** The whitelist. Each entry's doc is printed by docs/labs.md and `mmu-lab lab run --help`. */
export const QUERY_FUNCTIONS: FunctionTable<QueryContext> = new Map<string, Spec>([
  ['exits', fn(['string'], 'VM exits, or only those of one reason: exits("EXCEPTION_NMI")', (c, r) => exitCount(c, str(r)), 1)],
  ['exitsHandled', fn(['string'], 'VM exits the hypervisor handled this way: exitsHandled("emulate-pte-write")', (c, h) => exitCount(c, undefined, String(h)))],
  [
    'exitsPerFault',
    fn(
      ['string'],
      'VM exits (of one reason, if given) per guest #PF: exitsPerFault("EXCEPTION_NMI"); NaN without guest faults',
      (c, r) => {
        const faults = countWhere(c, 'guest_fault');
        return faults === 0 ? NaN : exitCount(c, str(r)) / faults;
      },
      1,
    ),
  ],
  ['guestFaults', fn([], 'page faults delivered to the guest (guest_fault events)', (c) => countWhere(c, 'guest_fault'))],
  [
    'events',
    fn(
      ['string', 'string', 'any', 'string', 'any', 'string', 'any'],
      'events of a type, optionally only those whose fields equal values (up to three field, value pairs): events("shadow_page", "action", "recycle", "level", 4)',
      (c, t, ...rest) => countWhere(c, String(t), ...rest),
      6,
    ),
  ],
  [
    'distinct',
    fn(
      ['string', 'string', 'string', 'any', 'string', 'any'],
      'how many different values a field takes over the events of a type, optionally filtered as in events(): distinct("shadow_page", "quadrant", "level", 2)',
      (c, t, f, ...rest) => {
        checkField(String(t), String(f));
        const flt = filters(String(t), rest);
        const seen = new Set<string>();
        for (const e of inRange(c)) if (matches(e, String(t), flt)) seen.add(String(fieldOf(e, String(f))));
        return seen.size;
      },
      4,
    ),
  ],
  [
    'sum',
    fn(['string', 'string'], 'the sum of a numeric field over the events of a type: sum("lock_wait", "duration")', (c, t, f) => {
      checkField(String(t), String(f));
      let s = 0;
      for (const e of inRange(c))
        if (e.type === t) {
          const v = fieldOf(e, String(f));
          if (typeof v === 'number') s += v;
          else if (typeof v === 'bigint') s += Number(v);
        }
      return s;
    }),
  ],
  [
    'shadowPagesPeak',
    fn([], 'the most shadow pages alive at once (allocations minus recycles and zaps, running maximum)', (c) => {
      let live = 0;
      let peak = 0;
      for (const e of inRange(c))
        if (e.type === 'shadow_page') {
          if (e.action === 'alloc') peak = Math.max(peak, ++live);
          else if (e.action === 'recycle' || e.action === 'zap') live--;
        }
      return peak;
    }),
  ],
  ['duration', fn([], 'simulated time the session spans, in ns', (c) => (c.range ? c.range[1] - c.range[0] : session(c).endNs - session(c).startNs))],
  [
    'exitNs',
    fn(['string'], 'total exit-handling time in ns, or of one reason', (c, r) => {
      let s = 0;
      for (const e of inRange(c)) if (e.type === 'vmexit' && (r === undefined || e.reason === r)) s += e.duration;
      return s;
    }, 1),
  ],
  ['auditorViolations', fn(['string'], 'invariant violations the auditor reported, or only those of one rule', (c, r) => (r === undefined ? countWhere(c, 'audit_violation') : countWhere(c, 'audit_violation', 'rule', r)), 1)],
  [
    'dirtyBitmapHoldsAllWrites',
    // Exactly the auditor's dirty-bitmap rule: lost-dirty (a D bit lost to the host page) is a
    // different invariant, read with auditorViolations("lost-dirty").
    fn([], 'true when the auditor found no guest write missing from the dirty bitmap (no audit_violation of rule "dirty-bitmap")', (c) => countWhere(c, 'audit_violation', 'rule', 'dirty-bitmap') === 0),
  ],
  [
    'vcpus',
    fn([], 'vCPUs that have events in the session', (c) => {
      const s = new Set<string>();
      for (const e of inRange(c)) s.add(`${e.vm}/${e.vcpu}`);
      return s.size;
    }),
  ],
  [
    'topExit',
    fn([], 'the exit reason with the most exits ("" if none)', (c) => {
      let best = '';
      let n = 0;
      for (const [r, k] of exitsByReason(c)) if (k > n || (k === n && r < best)) [best, n] = [r, k];
      return best;
    }),
  ],
  [
    'topHandling',
    fn([], 'the exit handling that occurs most often ("" if none)', (c) => {
      const m = new Map<string, number>();
      for (const e of inRange(c)) if (e.type === 'vmexit') m.set(e.handling, (m.get(e.handling) ?? 0) + 1);
      let best = '';
      let n = 0;
      for (const [h, k] of m) if (k > n || (k === n && h < best)) [best, n] = [h, k];
      return best;
    }),
  ],
  ['complete', fn([], 'true when the recording ran to its end', (c) => session(c).complete)],
  ['stoppedBy', fn(['string'], 'true when the recording was stopped by this reason: stoppedBy("endless-fault-loop")', (c, r) => session(c).stopMessage.includes(String(r)))],
  [
    'answer',
    fn(['string'], "the student's answer to a question (a choice id, a number or text; \"\" when unanswered)", (c, q) => {
      const a = own(c.answers, String(q));
      return a === undefined ? '' : a;
    }),
  ],
  ['correct', fn(['string'], 'true when the answer to a question is right', (c, q) => own(c.correct, String(q)) === true)],
  ['abs', fn(['number'], 'absolute value', (_c, x) => Math.abs(x as number))],
  ['min', fn(['number', 'number'], 'the smaller of two numbers', (_c, a, b) => Math.min(a as number, b as number))],
  ['max', fn(['number', 'number'], 'the larger of two numbers', (_c, a, b) => Math.max(a as number, b as number))],
  ['round', fn(['number'], 'round to the nearest integer', (_c, x) => Math.round(x as number))],
  ['approx', fn(['number', 'number', 'number'], 'true when |a - b| <= tolerance: approx(exitsPerFault(), 3, 0.05)', (_c, a, b, t) => Math.abs((a as number) - (b as number)) <= (t as number))],
  [
    'on',
    {
      args: ['string', 'any'],
      doc: 'evaluate the second argument on another session of the lab: on("zap", duration())',
      special: (c, args, ev) => {
        const id = ev(c, args[0]!);
        if (typeof id !== 'string' || !c.sessions.has(id)) throw new ExprError(`on(): the lab has no session "${String(id)}"`);
        return ev({ ...c, current: id, range: undefined }, args[1]!);
      },
    },
  ],
  [
    'within',
    {
      args: ['number', 'number', 'any'],
      doc: 'evaluate the third argument over the events with t0 <= t <= t1 only (ns): within(0, 50000, exits())',
      special: (c, args, ev) => {
        const t0 = ev(c, args[0]!);
        const t1 = ev(c, args[1]!);
        if (typeof t0 !== 'number' || typeof t1 !== 'number') throw new ExprError('within(): the range must be two numbers (ns)');
        return ev({ ...c, range: [t0, t1] }, args[2]!);
      },
    },
  ],
]);

/** Parse a check expression against the query whitelist (throws ExprError with a clear message). */
export function parseCheck(src: string): Node {
  return parseExpr(src, QUERY_FUNCTIONS);
}

/**
 * Evaluate a parsed check within CHECK_STEP_BUDGET steps (and within `lab`, the budget of the
 * whole grading, when given); past either, an ExprError says so.
 */
export function evaluateCheck(node: Node, ctx: QueryContext, lab?: StepBudget, limit = CHECK_STEP_BUDGET): Value {
  const budgets = [new StepBudget(limit), ...(lab ? [lab] : [])];
  return evaluate(node, { ...ctx, budgets }, QUERY_FUNCTIONS, budgets);
}
