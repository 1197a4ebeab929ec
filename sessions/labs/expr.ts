/**
 * The lab check language: a tiny, safe expression form over session queries.
 *
 * A lab file is untrusted text, so a check is never JavaScript: it is parsed here by a small
 * recursive-descent parser into a tree and evaluated by walking that tree. The only names an
 * expression can use are the functions of a whitelist the caller passes in (`FunctionTable`);
 * there are no variables, no property access (`.` is not an operator), no indexing, no
 * assignment, no loops. Anything else is a parse error that names the position.
 *
 * Grammar (precedence low to high):
 *
 *   expr    := or
 *   or      := and ( ("||" | "or") and )*
 *   and     := not ( ("&&" | "and") not )*
 *   not     := ("!" | "not") not | cmp
 *   cmp     := sum ( ("==" | "!=" | "<" | "<=" | ">" | ">=") sum )?
 *   sum     := term ( ("+" | "-") term )*
 *   term    := unary ( ("*" | "/" | "%") unary )*
 *   unary   := "-" unary | primary
 *   primary := NUMBER | STRING | "true" | "false" | NAME "(" [ expr ("," expr)* ] ")" | "(" expr ")"
 *
 * Values are numbers, strings and booleans. `==` compares like values (a number with a number,
 * …); `a == b` with different types is false. Division by zero gives NaN, and every comparison
 * with NaN is false, so a check on an empty session fails instead of passing by accident.
 */

export type Value = number | string | boolean;

/** Limits that keep a hostile expression cheap to reject. */
export const EXPR_LIMITS = { maxLength: 2000, maxTokens: 400, maxDepth: 32, maxStringLength: 200 } as const;

export type Node =
  | { kind: 'num'; value: number }
  | { kind: 'str'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'call'; name: string; args: Node[]; pos: number }
  | { kind: 'unary'; op: '-' | '!'; arg: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node; pos: number };

/**
 * What evaluating checks may cost, in steps: one per node evaluated and one per event a query
 * reads. Size limits keep an expression small, but a small expression can still call a
 * whole-session query a hundred times; the budget makes that cost finite and deterministic
 * (the same check passes or fails the same way on any machine, unlike a time limit).
 */
export class StepBudget {
  used = 0;
  constructor(
    readonly limit: number,
    /** What ran out, as the message's subject and verb ("the check needs", "the lab's checks together need"). */
    readonly what = 'the check needs',
  ) {}

  spend(steps: number): void {
    this.used += steps;
    if (this.used > this.limit)
      throw new ExprError(
        `${this.what} more than ${String(this.limit).replace(/\B(?=(\d{3})+(?!\d))/g, ' ')} steps (events read plus operations), the most a lab check may take; read fewer events (within(...)) or call fewer queries`,
      );
  }
}

export class ExprError extends Error {
  constructor(
    message: string,
    readonly pos?: number,
  ) {
    super(pos === undefined ? message : `${message} (at character ${pos + 1})`);
  }
}

/**
 * A whitelisted function. Plain functions get their arguments evaluated; a `special` function
 * gets the argument trees and an evaluator, so it can evaluate them in another scope (another
 * session, a time range).
 */
export type FunctionSpec<C> =
  | { args: readonly ArgType[]; optional?: number; doc: string; fn: (ctx: C, ...args: Value[]) => Value }
  | { args: readonly ArgType[]; optional?: number; doc: string; special: (ctx: C, args: Node[], evaluate: (ctx: C, node: Node) => Value) => Value };

export type ArgType = 'number' | 'string' | 'any';

export type FunctionTable<C> = ReadonlyMap<string, FunctionSpec<C>>;

type Token = { t: 'num'; v: number; pos: number } | { t: 'str'; v: string; pos: number } | { t: 'name'; v: string; pos: number } | { t: 'op'; v: string; pos: number } | { t: 'end'; pos: number };

const OPS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '+', '-', '*', '/', '%', '!', '(', ')', ','];

function tokenize(src: string): Token[] {
  if (src.length > EXPR_LIMITS.maxLength) throw new ExprError(`the expression is too long (${src.length} characters; at most ${EXPR_LIMITS.maxLength})`);
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (out.length >= EXPR_LIMITS.maxTokens) throw new ExprError(`the expression has too many parts (at most ${EXPR_LIMITS.maxTokens})`);
    const start = i;
    if (/[0-9]/.test(c)) {
      const m = /^(0x[0-9a-fA-F]+|[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?)/.exec(src.slice(i))!;
      i += m[0].length;
      if (i < src.length && /[A-Za-z_$.]/.test(src[i]!)) throw new ExprError(`unexpected "${src[i]}" after a number`, i);
      out.push({ t: 'num', v: Number(m[0]), pos: start });
      continue;
    }
    if (c === '"' || c === "'") {
      let s = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') throw new ExprError('backslashes are not allowed in strings', i);
        s += src[i];
        i++;
      }
      if (i >= src.length) throw new ExprError('a string is not closed', start);
      if (s.length > EXPR_LIMITS.maxStringLength) throw new ExprError(`a string is too long (at most ${EXPR_LIMITS.maxStringLength} characters)`, start);
      i++;
      out.push({ t: 'str', v: s, pos: start });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      out.push({ t: 'name', v: m[0], pos: start });
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) {
      const what = c === '.' ? '"." (there is no property access; use the query functions)' : c === '[' || c === ']' ? `"${c}" (there is no indexing)` : c === '=' ? '"=" (use == to compare)' : `"${c}"`;
      throw new ExprError(`unexpected ${what}`, i);
    }
    i += op.length;
    out.push({ t: 'op', v: op, pos: start });
  }
  out.push({ t: 'end', pos: src.length });
  return out;
}

/** Parse an expression; every name must be a function of `table`, with the right arity. */
export function parseExpr<C>(src: string, table: FunctionTable<C>): Node {
  const toks = tokenize(src);
  let k = 0;
  let depth = 0;
  const peek = () => toks[k]!;
  const isOp = (v: string) => {
    const t = peek();
    return t.t === 'op' && t.v === v;
  };
  const isWord = (v: string) => {
    const t = peek();
    return t.t === 'name' && t.v === v;
  };
  const expect = (v: string) => {
    if (!isOp(v)) throw new ExprError(`expected "${v}" but found ${describe(peek())}`, peek().pos);
    k++;
  };
  const enter = () => {
    if (++depth > EXPR_LIMITS.maxDepth) throw new ExprError(`the expression is nested too deeply (at most ${EXPR_LIMITS.maxDepth})`, peek().pos);
  };

  const or = (): Node => {
    enter();
    let left = and();
    while (isOp('||') || isWord('or')) {
      const pos = peek().pos;
      k++;
      left = { kind: 'binary', op: '||', left, right: and(), pos };
    }
    depth--;
    return left;
  };
  const and = (): Node => {
    let left = not();
    while (isOp('&&') || isWord('and')) {
      const pos = peek().pos;
      k++;
      left = { kind: 'binary', op: '&&', left, right: not(), pos };
    }
    return left;
  };
  const not = (): Node => {
    if (isOp('!') || isWord('not')) {
      k++;
      enter();
      const arg = not();
      depth--;
      return { kind: 'unary', op: '!', arg };
    }
    return cmp();
  };
  const cmp = (): Node => {
    const left = sum();
    const t = peek();
    if (t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      k++;
      return { kind: 'binary', op: t.v, left, right: sum(), pos: t.pos };
    }
    return left;
  };
  const sum = (): Node => {
    let left = term();
    for (let t = peek(); t.t === 'op' && (t.v === '+' || t.v === '-'); t = peek()) {
      k++;
      left = { kind: 'binary', op: t.v, left, right: term(), pos: t.pos };
    }
    return left;
  };
  const term = (): Node => {
    let left = unary();
    for (let t = peek(); t.t === 'op' && (t.v === '*' || t.v === '/' || t.v === '%'); t = peek()) {
      k++;
      left = { kind: 'binary', op: t.v, left, right: unary(), pos: t.pos };
    }
    return left;
  };
  const unary = (): Node => {
    if (isOp('-')) {
      k++;
      enter();
      const arg = unary();
      depth--;
      return { kind: 'unary', op: '-', arg };
    }
    return primary();
  };
  const primary = (): Node => {
    const t = peek();
    if (t.t === 'num') {
      k++;
      return { kind: 'num', value: t.v };
    }
    if (t.t === 'str') {
      k++;
      return { kind: 'str', value: t.v };
    }
    if (t.t === 'op' && t.v === '(') {
      k++;
      const e = or();
      expect(')');
      return e;
    }
    if (t.t === 'name') {
      k++;
      if (t.v === 'true' || t.v === 'false') return { kind: 'bool', value: t.v === 'true' };
      // a Map: `constructor`, `__proto__` and friends are not in it
      const spec = table.get(t.v);
      if (!spec) throw new ExprError(`"${t.v}" is not a query function of the lab language (see docs/labs.md for the list)`, t.pos);
      if (!isOp('(')) throw new ExprError(`"${t.v}" is a function: call it as ${t.v}(...)`, peek().pos);
      k++;
      const args: Node[] = [];
      if (!isOp(')')) {
        args.push(or());
        while (isOp(',')) {
          k++;
          args.push(or());
        }
      }
      expect(')');
      const max = spec.args.length;
      const min = max - (spec.optional ?? 0);
      if (args.length < min || args.length > max)
        throw new ExprError(`${t.v}() takes ${min === max ? max : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, not ${args.length}`, t.pos);
      args.forEach((a, i) => {
        const want = spec.args[i]!;
        const lit = a.kind === 'num' ? 'number' : a.kind === 'str' ? 'string' : a.kind === 'bool' ? 'boolean' : undefined;
        if (lit && want !== 'any' && lit !== want) throw new ExprError(`argument ${i + 1} of ${t.v}() must be a ${want}`, t.pos);
      });
      return { kind: 'call', name: t.v, args, pos: t.pos };
    }
    throw new ExprError(`expected a number, a string or a function call but found ${describe(t)}`, t.pos);
  };

  const tree = or();
  if (peek().t !== 'end') throw new ExprError(`unexpected ${describe(peek())}`, peek().pos);
  return tree;
}

function describe(t: Token): string {
  if (t.t === 'end') return 'the end of the expression';
  if (t.t === 'str') return `the string "${t.v}"`;
  return `"${String(t.v)}"`;
}

/**
 * Evaluate a parsed tree. Type errors (adding a string to a number) throw an ExprError, and so
 * does running past `budgets` (each is charged every step).
 */
export function evaluate<C>(node: Node, ctx: C, table: FunctionTable<C>, budgets: readonly StepBudget[] = []): Value {
  const ev = (c: C, n: Node): Value => {
    for (const b of budgets) b.spend(1);
    switch (n.kind) {
      case 'num':
      case 'str':
      case 'bool':
        return n.value;
      case 'unary': {
        const v = ev(c, n.arg);
        if (n.op === '!') return !truthy(v);
        return -num(v, '-');
      }
      case 'binary': {
        if (n.op === '&&') return truthy(ev(c, n.left)) && truthy(ev(c, n.right));
        if (n.op === '||') return truthy(ev(c, n.left)) || truthy(ev(c, n.right));
        const a = ev(c, n.left);
        const b = ev(c, n.right);
        switch (n.op) {
          case '==':
            return typeof a === typeof b && a === b;
          case '!=':
            return !(typeof a === typeof b && a === b);
          case '<':
          case '<=':
          case '>':
          case '>=': {
            const x = num(a, n.op);
            const y = num(b, n.op);
            return n.op === '<' ? x < y : n.op === '<=' ? x <= y : n.op === '>' ? x > y : x >= y;
          }
          case '+':
            return num(a, '+') + num(b, '+');
          case '-':
            return num(a, '-') - num(b, '-');
          case '*':
            return num(a, '*') * num(b, '*');
          case '/': {
            const y = num(b, '/');
            return y === 0 ? NaN : num(a, '/') / y;
          }
          case '%': {
            const y = num(b, '%');
            return y === 0 ? NaN : num(a, '%') % y;
          }
        }
        throw new ExprError(`unknown operator ${n.op}`, n.pos);
      }
      case 'call': {
        const spec = table.get(n.name)!;
        if ('special' in spec) return spec.special(c, n.args, ev);
        const vals = n.args.map((a, i) => {
          const v = ev(c, a);
          const want = spec.args[i]!;
          if (want !== 'any' && typeof v !== want) throw new ExprError(`argument ${i + 1} of ${n.name}() must be a ${want}`, n.pos);
          return v;
        });
        return spec.fn(c, ...vals);
      }
    }
  };
  return ev(ctx, node);
}

function truthy(v: Value): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  return v.length > 0;
}

function num(v: Value, op: string): number {
  if (typeof v !== 'number') throw new ExprError(`"${op}" needs numbers, got ${typeof v === 'string' ? `the string "${v}"` : String(v)}`);
  return v;
}
