// Keyframe and note chunks that are well framed (valid checksum) but hostile inside, and the
// report's extension point.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findBuiltin } from '../core/builtins.ts';
import { parseScenario } from '../core/scenario.ts';
import { recordScenario } from './record.ts';
import { openSession } from './reader.ts';
import { CHUNK, frameChunk, utf8 } from './format.ts';
import { KEYF_PREFIX_BYTES, appendNoteOp } from './annex.ts';
import { renderReport, type ReportSection } from './report/html.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-annex-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const p = parseScenario(findBuiltin('cow-zap')!.scenario);
if (!p.ok) throw new Error(p.error);
const path = join(dir, 'cow.mmulab');
recordScenario(p.value, path, { keyframeEvents: 50 });
appendNoteOp(path, { op: 'put', note: { noteId: 'a', kind: 'bookmark', t: 5, text: 'here <b>', createdMs: 1 } });
const bytes = new Uint8Array(readFileSync(path));
const clean = openSession(bytes).session!;
const truth = Array.from({ length: 8 }, (_, i) => Buffer.from(clean.stateBefore(Math.floor((i * clean.eventCount) / 7)).encode()));

/** A tiny deterministic PRNG (fixed seed). */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('hostile keyframe and note chunks', () => {
  it('never crash or hang the reader; a state query still answers; verify names the bad keyframes', () => {
    expect(clean.keyframes.length).toBeGreaterThan(5);
    const rand = rng(42);
    const kf = clean.keyframes[2]!;
    const len = new DataView(bytes.buffer).getUint32(kf.offset + 4, true);
    const payload = bytes.slice(kf.offset + 8, kf.offset + 8 + len);
    for (let round = 0; round < 120; round++) {
      const evil = payload.slice();
      const flips = 1 + Math.floor(rand() * 6);
      for (let f = 0; f < flips; f++) {
        // mostly the state body, sometimes the prefix
        const at = rand() < 0.8 ? KEYF_PREFIX_BYTES + Math.floor(rand() * (evil.length - KEYF_PREFIX_BYTES)) : Math.floor(rand() * KEYF_PREFIX_BYTES);
        evil[at] = Math.floor(rand() * 256);
      }
      const notes = utf8(rand() < 0.5 ? '{"op":"put","note":{"noteId":"x","kind":"note","t":-1,"text":"","createdMs":0}}' : '{"op":"remove"');
      const file = new Uint8Array([...bytes, ...frameChunk(CHUNK.KEYF, evil), ...frameChunk(CHUNK.NOTE, notes)]);
      const { session, diagnostics } = openSession(file);
      expect(session, JSON.stringify(diagnostics)).toBeDefined();
      expect(session!.eventCount).toBe(clean.eventCount);
      expect(session!.notes().map((n) => n.text)).toEqual(['here <b>']);
      const i = Math.floor(rand() * 8);
      const s = session!.stateBefore(Math.floor((i * clean.eventCount) / 7));
      // a damaged copy of keyframe 2 is either skipped or, if it still decodes to the same position, flagged by verify
      const v = session!.verifyKeyframes();
      if (v.problems.length === 0) expect(Buffer.from(s.encode()).equals(truth[i]!)).toBe(true);
    }
  });
});

describe('report sections', () => {
  it('extra sections are appended, escaped by their own code, and number their figures after the defaults', () => {
    const lab: ReportSection = {
      id: 'lab-checks',
      title: 'Lab checks',
      render: (ctx) => `<p>${ctx.figure('Checks & answers')}</p><p>2 of 3 checks pass</p>`,
    };
    const html = renderReport(clean, { title: 'COW <zap>', extraSections: [lab] });
    const ids = [...html.matchAll(/<section id="([^"]+)">/g)].map((m) => m[1]);
    expect(ids).toEqual(['summary', 'exits-by-reason', 'timeline', 'notes', 'page-table-diff', 'lab-checks']);
    expect(html).toContain('<h1>COW &lt;zap&gt;</h1>');
    expect(html).toContain('<td>here &lt;b&gt;</td>'); // note text escaped
    expect(html).toContain('Figure 3. Checks &amp; answers'); // after the two default figures
    const only = renderReport(clean, { title: 't', sections: [lab] });
    expect([...only.matchAll(/<section id="([^"]+)">/g)].map((m) => m[1])).toEqual(['lab-checks']);
  });
});
