import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { eventToJson, type MmuEvent } from '../core/events.ts';
import { openSession } from './reader.ts';
import { rng, syntheticStream } from './testing/synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const child = fileURLToPath(new URL('./testing/killChild.ts', import.meta.url));

/** Spawn the recorder, SIGKILL it `delayMs` after it is ready; resolve with the last durable count it printed. */
function recordAndKill(out: string, seed: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, out, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let stderr = '';
    let armed = false;
    p.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      if (!armed && text.includes('ready\n')) {
        armed = true;
        setTimeout(() => p.kill('SIGKILL'), delayMs);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`the recorder was not killed (${stderr})`));
      const m = [...text.matchAll(/durable (\d+)/g)];
      resolve(m.length ? Number(m[m.length - 1]![1]) : 0);
    });
  });
}

it('a recorder killed with SIGKILL at random points leaves a file that opens up to its last complete chunk', async () => {
  const r = rng(2024);
  const durables: number[] = [];
  for (let round = 0; round < 6; round++) {
    const seed = 100 + round;
    const out = join(dir, `killed-${round}.mmulab`);
    const delay = Math.floor(20 + r() * 400);
    const durable = await recordAndKill(out, seed, delay);
    durables.push(durable);
    const { session, diagnostics } = openSession(out);
    expect(session, JSON.stringify(diagnostics)).toBeDefined();
    const s = session!;
    // nothing before the last complete chunk is lost
    expect(s.eventCount).toBeGreaterThanOrEqual(durable);
    expect(s.complete).toBe(false);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(diagnostics.map((d) => d.code)).toContain('recording_incomplete');
    // what is read is, lane by lane, exactly a prefix of what was written
    const perLane = new Map<string, MmuEvent[]>();
    for (const e of s.iterate()) {
      const k = `${e.vm}/${e.vcpu}`;
      const l = perLane.get(k) ?? [];
      l.push(e);
      perLane.set(k, l);
    }
    const need = new Map([...perLane].map(([k, l]) => [k, l.length]));
    const seen = new Map<string, number>();
    let remaining = [...need.values()].reduce((a, b) => a + b, 0);
    for (const e of syntheticStream({ seed, vcpus: [2, 2] })) {
      if (remaining === 0) break;
      const k = `${e.vm}/${e.vcpu}`;
      const i = seen.get(k) ?? 0;
      if (i >= (need.get(k) ?? 0)) continue;
      expect(JSON.stringify(eventToJson(perLane.get(k)![i]!))).toBe(JSON.stringify(eventToJson(e)));
      seen.set(k, i + 1);
      remaining--;
    }
  }
  // the kills landed mid-recording, after real data was written
  expect(durables.filter((d) => d > 0).length).toBeGreaterThanOrEqual(3);
}, 120_000);
