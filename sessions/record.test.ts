import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventToJson, type MmuEvent } from '../core/events.ts';
import { BUILTIN_SCENARIOS } from '../core/builtins.ts';
import { runScenario } from '../core/engine.ts';
import { parseScenario } from '../core/scenario.ts';
import { recordScenario } from './record.ts';
import { openSession } from './reader.ts';
import { exportJsonl } from './export.ts';
import { canonicalOrder } from './testing/synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('every built-in scenario round-trips', () => {
  for (const b of BUILTIN_SCENARIOS) {
    it(b.name, () => {
      const parsed = parseScenario(b.scenario);
      if (!parsed.ok) throw new Error(parsed.error);
      const stream: MmuEvent[] = [];
      runScenario(parsed.value, (e) => stream.push(e));
      const path = join(dir, `${b.name}.mmulab`);
      const r = recordScenario(parsed.value, path);
      expect(r.events).toBe(stream.length);
      const { session, diagnostics } = openSession(path);
      expect(diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
      let text = '';
      exportJsonl(session!, (s) => (text += s));
      expect(text).toBe(canonicalOrder(stream).map((e) => JSON.stringify(eventToJson(e)) + '\n').join(''));
      expect(session!.complete).toBe(r.complete);
    });
  }
});
