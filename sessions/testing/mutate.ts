/**
 * For fuzz tests of structured inputs (scenarios, lab files): a copy of `x` with `value` put at a
 * random place, the path chosen by the numbers given; `key` may be a name like `__proto__`, which
 * is defined as an own property, never set through the prototype.
 */
export function mutateAt(x: unknown, path: number[], key: string, value: unknown): unknown {
  const copy = structuredClone(x) as Record<string, unknown>;
  let cur: Record<string, unknown> = copy;
  for (const p of path) {
    const keys = Object.keys(cur);
    if (!keys.length) break;
    const next = cur[keys[p % keys.length]!];
    if (!next || typeof next !== 'object') {
      cur[keys[p % keys.length]!] = value;
      return copy;
    }
    cur = next as Record<string, unknown>;
  }
  Object.defineProperty(cur, key, { value, enumerable: true, configurable: true, writable: true });
  return copy;
}
