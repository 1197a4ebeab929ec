import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { API, API_METHODS } from './contract.ts';

// Issue 18 §8: API payloads fuzzed through each method's parameter schema (what the host checks
// before a handler runs) within a fixed time budget: any params are accepted or refused, never thrown.

const BUDGET = { numRuns: 1_000_000, interruptAfterTimeLimit: 3000, markInterruptAsFailure: false } as const;
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'path', 'id', 'from', 'count', 'types', 't0', 't1', 'name');
const hostileValue = fc.oneof(
  fc.constantFrom(0, -1, 1e308, Number.MAX_SAFE_INTEGER, 2 ** 53, 0.5, '', 'x'.repeat(10_000), null, true, [], {}),
  fc.anything({ maxDepth: 3, maxKeys: 5 }),
);

describe('API payload fuzzing', () => {
  it('API payloads: every method checks any params without throwing', () => {
    let cases = 0;
    fc.assert(
      fc.property(fc.constantFrom(...API_METHODS), fc.oneof(fc.anything({ maxDepth: 4 }), fc.dictionary(hostileKey, hostileValue)), (method, params) => {
        const r = API[method].params.safeParse(params);
        expect(typeof r.success).toBe('boolean');
        cases++;
      }),
      BUDGET,
    );
    expect(cases).toBeGreaterThan(100);
  });

});
