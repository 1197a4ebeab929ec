import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSession } from './reader.ts';
import { exportJsonl } from './export.ts';

// Compatibility corpus: files written by each released format version must keep opening, and
// their JSONL export must stay what it was when they were written. Never rebaseline these
// files; add a new directory for a new version instead.
const root = fileURLToPath(new URL('./fixtures/', import.meta.url));

describe('compatibility corpus', () => {
  // one folder per format version (v1, v2, …); fixtures/corrupt is the damaged-file corpus (corrupt.test.ts)
  for (const version of readdirSync(root).filter((d) => /^v\d+$/.test(d))) {
    for (const file of readdirSync(join(root, version)).filter((f) => f.endsWith('.mmulab'))) {
      it(`${version}/${file}`, () => {
        const { session, diagnostics } = openSession(join(root, version, file));
        expect(diagnostics).toEqual([]);
        let text = '';
        exportJsonl(session!, (s) => (text += s));
        expect(text).toBe(readFileSync(join(root, version, file.replace(/\.mmulab$/, '.jsonl')), 'utf8'));
      });
    }
  }
});
