import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BUILTIN_SCENARIOS } from '../core/builtins.ts';
import { parseScenario } from '../core/scenario.ts';
import { parseNoteOp } from './annex.ts';
import { utf8 } from './format.ts';
import { mutateAt } from './testing/mutate.ts';

// Issue 18 §8, the other inputs, fuzzed through their public entry points within fixed time
// budgets: scenario files (the parser every command and the host use) and note operations
// (what the reader accepts from NOTE chunks); API payloads in electron/api/payloadFuzz.test.ts. Each must accept or refuse with a message, never
// throw. (Trace importers have their own fuzzer: sessions/import/importFuzz.test.ts.)

const BUDGET = { numRuns: 1_000_000, interruptAfterTimeLimit: 3000, markInterruptAsFailure: false } as const;
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'vms', 'guest', 'workload', 'kind', 'vcpus', 'memoryMb', 'seed', 'name');
const hostileValue = fc.oneof(
  fc.constantFrom(0, -1, 1e308, Number.MAX_SAFE_INTEGER, 2 ** 53, 0.5, '', 'x'.repeat(10_000), null, true, [], {}),
  fc.anything({ maxDepth: 3, maxKeys: 5 }),
);

describe('inputs fuzzing', () => {
  it('scenario files: mutated built-ins and arbitrary values are accepted or refused, never thrown', () => {
    let cases = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.nat(BUILTIN_SCENARIOS.length - 1), fc.array(fc.nat(), { maxLength: 5 }), hostileKey, hostileValue, (i, path, key, value) => {
        const input = mutateAt(BUILTIN_SCENARIOS[i]!.scenario, path, key, value);
        const r = parseScenario(input);
        if (!r.ok) {
          refused++;
          expect(typeof r.error).toBe('string');
        }
        cases++;
      }),
      BUDGET,
    );
    fc.assert(
      fc.property(fc.anything(), (x) => {
        const r = parseScenario(x);
        expect(typeof r.ok).toBe('boolean');
      }),
      { ...BUDGET, interruptAfterTimeLimit: 1000 },
    );
    expect(cases).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(0);
  });

  it('note operations from NOTE chunks: any JSON (or none) is a note operation or refused', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string(), fc.dictionary(hostileKey, hostileValue).map((o) => JSON.stringify({ op: 'put', note: o }))), (text) => {
        const op = parseNoteOp(utf8(text));
        if (op) expect(['put', 'remove']).toContain(op.op);
      }),
      BUDGET,
    );
  });
});
