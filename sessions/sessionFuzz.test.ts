import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { baseSessions, exerciseSession, mutate, type Mutation } from './testing/sessionFuzz.ts';
import { cpuMs } from './testing/cpuTime.ts';

// Issue 18 §8: a structure-aware fuzzer of valid sessions. Each case takes a valid closed
// session (lanes, chunks, index, footer, keyframes, notes) and applies mutations that keep every
// checksum valid (so they pass the CRC and reach the reader's own checks): prefix fields, body
// varuints and dictionary counts pushed to the format's limits, JSON values of the header,
// footer, index and notes replaced by extremes, chunks duplicated, dropped, swapped or added.
// It runs for a fixed time budget; every input that ever failed is kept in
// fixtures/fuzz-corpus/ (written there by a failing run) and replayed on every run.

const corpusDir = fileURLToPath(new URL('./fixtures/fuzz-corpus/', import.meta.url));
const BUDGET_MS = Number(process.env.MMU_LAB_FUZZ_MS ?? 12_000);

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('prefixField', 'bodyVaruint', 'dictCount', 'bodyBytes', 'json', 'json', 'structure'),
  chunk: fc.nat(),
  at: fc.nat(),
  value: fc.nat(),
  bytes: fc.uint8Array({ maxLength: 24 }),
});

/** Keep a failing input for good: the corpus test replays it on every run. */
function keep(bytes: Uint8Array): string {
  mkdirSync(corpusDir, { recursive: true });
  const name = `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.mmulab`;
  writeFileSync(corpusDir + name, bytes);
  return name;
}

describe('session fuzzing', () => {
  const bases = baseSessions();

  it('the base sessions are valid and read back whole', () => {
    for (const b of bases) {
      const r = exerciseSession(mutate(b, []));
      expect(r.opened).toBe(true);
      expect(r.events).toBeGreaterThan(0);
    }
  });

  it(`checksum-valid mutations of valid sessions never crash, hang or over-read (${BUDGET_MS} ms budget)`, { timeout: BUDGET_MS + 30_000 }, () => {
    let cases = 0;
    let opened = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, muts) => {
        const bytes = mutate(bases[which]!, muts);
        const started = cpuMs();
        try {
          const r = exerciseSession(bytes);
          if (r.opened) opened++;
          else refused++;
          if (cpuMs() - started > 5000) throw new Error(`a case took ${Math.round(cpuMs() - started)} ms of CPU`);
        } catch (e) {
          throw new Error(`${(e as Error).message} (kept as fixtures/fuzz-corpus/${keep(bytes)})`, { cause: e });
        } finally {
          cases++;
        }
      }),
      { numRuns: 1_000_000, interruptAfterTimeLimit: BUDGET_MS, markInterruptAsFailure: false, seed: Date.now() % 2 ** 31 },
    );
    console.log(`session fuzz: ${cases} cases in ${BUDGET_MS} ms (${opened} opened, ${refused} refused with an error)`);
    // both sides reached: inputs that open, inputs refused as unreadable
    expect(opened).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(cases).toBeGreaterThan(BUDGET_MS / 40);
  });

  it('every input the fuzzer ever failed on (the corpus) now passes', () => {
    for (const name of readdirSync(corpusDir).filter((f) => f.endsWith('.mmulab'))) {
      const bytes = new Uint8Array(readFileSync(corpusDir + name));
      expect(() => exerciseSession(bytes), name).not.toThrow();
    }
  });
});
