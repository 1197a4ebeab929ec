import { describe, expect, it } from 'vitest';
import { EXPR_LIMITS, ExprError, StepBudget, evaluate, parseExpr, type FunctionTable } from './expr.ts';
import { QUERY_FUNCTIONS, evaluateCheck, parseCheck, type LabSession, type QueryContext } from './queries.ts';
import type { MmuEvent } from '../../core/events.ts';

const none: FunctionTable<null> = new Map([['two', { args: [], doc: '', fn: () => 2 }]]);
const calc = (src: string) => evaluate(parseExpr(src, none), null, none);

describe('the check language: arithmetic and logic (hand-checked)', () => {
  it('follows the usual precedence', () => {
    expect(calc('1 + 2 * 3')).toBe(7);
    expect(calc('(1 + 2) * 3')).toBe(9);
    expect(calc('10 - 4 - 3')).toBe(3);
    expect(calc('2 * 3 == 6 && 1 < 2')).toBe(true);
    expect(calc('-two() + 5')).toBe(3);
    expect(calc('7 % 4')).toBe(3);
    expect(calc('0x10 + 1')).toBe(17);
    expect(calc('not 1 > 2 or false')).toBe(true);
    expect(calc('"a" == "a" and "a" != "b"')).toBe(true);
  });
  it('never passes by accident on NaN or mixed types', () => {
    expect(calc('1 / 0 == 1 / 0')).toBe(false);
    expect(calc('1 / 0 > 0')).toBe(false);
    expect(calc('1 / 0 < 0')).toBe(false);
    expect(calc('1 == "1"')).toBe(false);
    expect(() => calc('"a" + 1')).toThrow(/needs numbers/);
  });
});

describe('the check language refuses anything outside its whitelist', () => {
  const bad: [string, RegExp][] = [
    ['constructor("return process")()', /"constructor" is not a query function/],
    ['__proto__()', /"__proto__" is not a query function/],
    ['process.exit(1)', /unexpected "\." \(there is no property access/],
    ['process(1)', /"process" is not a query function/],
    ['two().constructor', /unexpected "\." \(there is no property access/],
    ['this', /"this" is not a query function/],
    ['two()[0]', /unexpected "\[" \(there is no indexing\)/],
    ['two = 3', /unexpected "=" \(use == to compare\)/],
    ['`x`', /unexpected "`"/],
    ['"\\u0041"', /backslashes are not allowed/],
    ['two(1)', /two\(\) takes 0 arguments, not 1/],
    ['two', /is a function: call it as two\(...\)/],
    ['1 +', /expected a number, a string or a function call but found the end/],
    ['"open', /a string is not closed/],
    ['1 2', /unexpected "2"/],
    ['12abc', /unexpected "a" after a number/],
  ];
  for (const [src, msg] of bad)
    it(`rejects ${src}`, () => {
      expect(() => parseExpr(src, none)).toThrow(ExprError);
      expect(() => parseExpr(src, none)).toThrow(msg);
    });
  it('caps length, parts and nesting so a hostile expression is cheap to reject', () => {
    expect(() => parseExpr('1+'.repeat(EXPR_LIMITS.maxLength) + '1', none)).toThrow(/too long/);
    expect(() => parseExpr('1+'.repeat(EXPR_LIMITS.maxTokens) + '1', none)).toThrow(/too many parts/);
    expect(() => parseExpr('('.repeat(100) + '1' + ')'.repeat(100), none)).toThrow(/nested too deeply/);
    expect(() => parseExpr('!'.repeat(100) + '1', none)).toThrow(/nested too deeply/);
    expect(() => parseExpr(`"${'x'.repeat(EXPR_LIMITS.maxStringLength + 1)}"`, none)).toThrow(/string is too long/);
  });
});

describe('session queries (against a hand-written event list)', () => {
  const ev = (t: number, e: Record<string, unknown>) => ({ t, vm: 0, vcpu: 0, ...e }) as unknown as MmuEvent;
  // Two demand faults with zap: each #PF, emulated pte write, re-fault (3 exits per fault).
  const events: MmuEvent[] = [
    ev(0, { type: 'vmexit', reason: 'CR_ACCESS', handling: 'cr3-switch', duration: 10 }),
    ...[100, 200].flatMap((t) => [
      ev(t, { type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'inject-guest-pf', duration: 5 }),
      ev(t + 1, { type: 'guest_fault', va: 0x400000 + t, errorCode: 6 }),
      ev(t + 2, { type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'emulate-pte-write', duration: 5 }),
      ev(t + 3, { type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'fill-spte', duration: 5 }),
    ]),
    ev(300, { type: 'shadow_page', action: 'alloc', table: 1, level: 2, gfn: 0x100, quadrant: 0 }),
    ev(301, { type: 'shadow_page', action: 'alloc', table: 2, level: 2, gfn: 0x100, quadrant: 1 }),
    ev(302, { type: 'shadow_page', action: 'recycle', table: 1, level: 2, gfn: 0x100, quadrant: 0 }),
    ev(303, { type: 'shadow_page', action: 'alloc', table: 3, level: 1, gfn: 0x101, quadrant: 0 }),
  ];
  const s: LabSession = { id: 'a', events, startNs: 0, endNs: 303, complete: true, stopMessage: '' };
  const b: LabSession = { id: 'b', events: events.slice(0, 5), startNs: 0, endNs: 103, complete: false, stopMessage: 'VM 0 stopped: endless-fault-loop' };
  const ctx: QueryContext = { sessions: new Map([['a', s], ['b', b]]), current: 'a', answers: { q1: 'b', q2: 3 }, correct: { q1: true } };
  const q = (src: string) => evaluateCheck(parseCheck(src), ctx);

  it('counts exits, faults and events with field filters', () => {
    expect(q('exits()')).toBe(7);
    expect(q('exits("EXCEPTION_NMI")')).toBe(6);
    expect(q('exitsHandled("fill-spte")')).toBe(2);
    expect(q('exitsPerFault("EXCEPTION_NMI")')).toBe(3);
    expect(q('guestFaults()')).toBe(2);
    expect(q('events("shadow_page", "action", "alloc")')).toBe(3);
    expect(q('events("shadow_page", "action", "alloc", "level", 2, "gfn", "0x100")')).toBe(2);
    expect(q('events("guest_fault", "va", 4194504)')).toBe(1);
    expect(q('distinct("shadow_page", "quadrant", "level", 2)')).toBe(2);
    expect(q('sum("vmexit", "duration")')).toBe(40);
    expect(q('exitNs("EXCEPTION_NMI")')).toBe(30);
    expect(q('shadowPagesPeak()')).toBe(2);
    expect(q('topExit()')).toBe('EXCEPTION_NMI');
  });
  it('reads other sessions with on() and time ranges with within()', () => {
    expect(q('on("b", exits())')).toBe(4);
    expect(q('on("b", complete())')).toBe(false);
    expect(q('on("b", stoppedBy("endless-fault-loop"))')).toBe(true);
    expect(q('within(100, 199, exits())')).toBe(3);
    expect(q('within(0, 50, duration())')).toBe(50);
    expect(() => q('on("nope", exits())')).toThrow(/no session "nope"/);
  });
  it('reads answers', () => {
    expect(q('answer("q1") == "b" && answer("q2") == 3 && answer("q3") == ""')).toBe(true);
    expect(q('correct("q1") && !correct("q2")')).toBe(true);
  });
  it('reaches no field outside the event table', () => {
    expect(() => q('events("vmexit", "constructor", 1)')).toThrow(/"constructor" is not a field of vmexit events/);
    expect(() => q('events("vmexit", "__proto__", 1)')).toThrow(/not a field of vmexit/);
    expect(() => q('events("Object", "t", 1)')).toThrow(/"Object" is not an event type/);
    expect(() => q('sum("vmexit", "toString")')).toThrow(/not a field/);
  });
  it('tells the auditor\'s rules apart exactly (a lost dirty bit is not a write missing from the bitmap)', () => {
    const audit = (rule: string): LabSession => ({ id: rule, events: [ev(5, { type: 'audit_violation', rule, detail: 'x' })], startNs: 0, endNs: 5, complete: true, stopMessage: '' });
    const c: QueryContext = { sessions: new Map([['lost', audit('lost-dirty')], ['bitmap', audit('dirty-bitmap')], ['clean', b]]), current: 'lost', answers: {}, correct: {} };
    const on = (id: string, src: string) => evaluateCheck(parseCheck(src), { ...c, current: id });
    expect(on('lost', 'dirtyBitmapHoldsAllWrites()')).toBe(true);
    expect(on('lost', 'auditorViolations("lost-dirty") == 1 && auditorViolations("dirty-bitmap") == 0 && auditorViolations("dirty") == 0')).toBe(true);
    expect(on('bitmap', 'dirtyBitmapHoldsAllWrites()')).toBe(false);
    expect(on('bitmap', 'auditorViolations("dirty-bitmap")')).toBe(1);
    expect(on('clean', 'dirtyBitmapHoldsAllWrites()')).toBe(true);
  });
  it('answers and question ids named like prototype properties are plain names', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(q(`answer("${name}")`)).toBe('');
      expect(q(`correct("${name}")`)).toBe(false);
      expect(q(`answer("${name}") == ""`)).toBe(true);
    }
    const own: QueryContext = { ...ctx, answers: JSON.parse('{"constructor": "c", "__proto__": 7}') as Record<string, string | number> };
    expect(evaluateCheck(parseCheck('answer("constructor")'), own)).toBe('c');
    expect(evaluateCheck(parseCheck('answer("__proto__")'), own)).toBe(7);
  });
  it('a check past its step budget fails with a clear error, deterministically', () => {
    // one node (the call) plus every event of the session it reads
    const cost = 1 + s.events.length;
    expect(evaluateCheck(parseCheck('exits()'), ctx, undefined, cost)).toBe(7);
    expect(evaluateCheck(parseCheck('within(0, 1, exits())'), ctx, undefined, cost + 3)).toBe(q('within(0, 1, exits())'));
    expect(() => evaluateCheck(parseCheck('exits()'), ctx, undefined, cost - 1)).toThrow(
      /the check needs more than \d+ steps \(events read plus operations\), the most a lab check may take; read fewer events \(within\(\.\.\.\)\) or call fewer queries/,
    );
    // the default budget stops a hostile check: 100 whole-session queries of a 250 000-event session
    const big: LabSession = { ...s, events: Array.from({ length: 250_000 }, (_, i) => ev(i, { type: 'guest_fault', va: 0n, errorCode: 0 })) };
    const hostile = Array(100).fill('guestFaults()').join(' + ');
    const c: QueryContext = { ...ctx, sessions: new Map([['a', big]]) };
    const t0 = performance.now();
    expect(() => evaluateCheck(parseCheck(hostile), c)).toThrow(/the check needs more than 20 000 000 steps/);
    console.log(`a 100-query hostile check stopped by the step budget after ${(performance.now() - t0).toFixed(0)} ms`);
    // and a lab's checks share one budget over the whole grading
    const lab = new StepBudget(300_000, "the lab's checks together need");
    expect(evaluateCheck(parseCheck('guestFaults()'), c, lab)).toBe(250_000);
    expect(() => evaluateCheck(parseCheck('guestFaults()'), c, lab)).toThrow(/the lab's checks together need more than 300 000 steps/);
  });
  it('every whitelisted function is documented', () => {
    for (const [name, spec] of QUERY_FUNCTIONS) expect(spec.doc.length, name).toBeGreaterThan(10);
  });
});

describe('docs/labs.md', () => {
  it('documents every query function of the whitelist', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/labs.md', import.meta.url), 'utf8');
    for (const name of QUERY_FUNCTIONS.keys()) expect(doc, name).toMatch(new RegExp('`' + name + '\\('));
  });
});
