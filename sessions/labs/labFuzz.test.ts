// Issue 18 §8, lab files: every bundled lab's lab.yaml and answers, mutated (values swapped for
// hostile ones at random places, names like __proto__ and constructor, the text cut or flipped),
// must load (and grade) or be refused with a LabError naming the file; nothing else may be
// thrown. Run within a fixed time budget per property.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { mutateAt } from '../testing/mutate.ts';
import { gradeQuestions } from './grade.ts';
import { LAB_FILE, LabError, bundledLabsDir, listLabDirs, loadAnswers, loadLab, parseYamlText, referenceAnswers } from './load.ts';

const BUDGET = { numRuns: 1_000_000, interruptAfterTimeLimit: 3000, markInterruptAsFailure: false } as const;
const tmp = mkdtempSync(join(tmpdir(), 'mmulab-labfuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// one writable copy of each bundled lab, whose lab.yaml each case rewrites
const labs = listLabDirs(bundledLabsDir()).map((name, i) => {
  const copy = join(tmp, `lab${i}`);
  cpSync(join(bundledLabsDir(), name), copy, { recursive: true });
  return { copy, data: loadLab(copy).file as unknown };
});

const hostileKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'id', 'type', 'answer', 'expect', 'scenarios', 'questions', 'checks', 'file', 'trace', 'instructions', 'choices', 'keywords', 'tolerance');
const hostileValue = fc.oneof(
  fc.constantFrom(0, -1, 1e308, 2 ** 53, '', '../../../etc/passwd', '/etc/passwd', 'x'.repeat(5000), null, true, [], {}, 'answer("constructor")', 'events("constructor") == 1', '((((((((((1))))))))))'),
  fc.anything({ maxDepth: 2, maxKeys: 4 }),
);

/** Load the lab as it now is; a loaded lab also grades its reference answers. Only LabError may come out. */
function loadOrRefuse(dir: string): 'loaded' | 'refused' {
  try {
    const lab = loadLab(dir);
    for (const q of gradeQuestions(lab, referenceAnswers(lab))) expect(typeof q.id).toBe('string');
    return 'loaded';
  } catch (e) {
    if (e instanceof LabError) {
      expect(e.message).toContain(dir);
      return 'refused';
    }
    throw e;
  }
}

describe('lab files fuzzing', () => {
  it('mutated lab.yaml values load or are refused with a LabError naming the file', () => {
    const seen = { loaded: 0, refused: 0 };
    fc.assert(
      fc.property(fc.nat(labs.length - 1), fc.array(fc.nat(), { maxLength: 5 }), hostileKey, hostileValue, (i, path, key, value) => {
        const lab = labs[i]!;
        let text: string;
        try {
          text = stringify(mutateAt(lab.data, path, key, value));
        } catch {
          return; // not expressible as YAML (e.g. a symbol): nothing to write
        }
        writeFileSync(join(lab.copy, LAB_FILE), text);
        seen[loadOrRefuse(lab.copy)]++;
      }),
      BUDGET,
    );
    expect(seen.refused).toBeGreaterThan(0);
    expect(seen.loaded + seen.refused).toBeGreaterThan(20);
  });

  it('lab.yaml text cut, flipped or spliced loads or is refused with a LabError', () => {
    fc.assert(
      fc.property(fc.nat(labs.length - 1), fc.nat(), fc.nat(), fc.string({ maxLength: 40 }), (i, at, len, splice) => {
        const lab = labs[i]!;
        const text = stringify(lab.data);
        const p = at % (text.length + 1);
        writeFileSync(join(lab.copy, LAB_FILE), text.slice(0, p) + splice + text.slice(p + (len % 50)));
        loadOrRefuse(lab.copy);
      }),
      BUDGET,
    );
  });

  it('answers files: any YAML or JSON is read as answers or refused with a LabError', () => {
    const file = join(tmp, 'answers.yaml');
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string(), fc.dictionary(hostileKey, hostileValue).map((o) => { try { return stringify(o); } catch { return ''; } })), (text) => {
        writeFileSync(file, text);
        try {
          const answers = loadAnswers(file);
          expect(typeof answers).toBe('object');
        } catch (e) {
          if (!(e instanceof LabError)) throw e;
        }
      }),
      BUDGET,
    );
    expect(() => parseYamlText('a: *b', 'x')).toThrow(LabError);
  });
});
