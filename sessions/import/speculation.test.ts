/**
 * The one-pass import guesses the layout (threads, vCPU ids, the first timestamp) from the
 * first records and falls back to two passes when a later record shows it was wrong. Whatever
 * happens, the session must be the one the plain two-pass import (`speculateAfter: 0`) writes:
 * the same events and the same header. Generated traces put the surprise late in the file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSession } from '../reader.ts';
import { importTrace } from './importer.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Gen {
  /** Records before `late` happens. */
  records: number;
  late?: 'thread' | 'vcpu-id' | 'earlier-ts' | 'prose';
}

/** Exit/page fault/entry triples on vCPU threads 0 and 1 (and 2 when `late` is 'thread'). */
function trace(g: Gen): string {
  const lines: string[] = ['# tracer: nop', '#'];
  let us = 5_000_000;
  const ts = () => `${Math.floor(us / 1e6)}.${String(us++ % 1e6).padStart(6, '0')}`;
  const rec = (v: number, ev: string, body: string, t = ts()) => lines.push(`       CPU ${v}/KVM-${700 + v} [00${v}] d.... ${t}: ${ev}: ${body}`);
  const triple = (v: number, withId = true) => {
    rec(v, 'kvm_exit', `${withId ? `vcpu ${v} ` : ''}reason EPT_VIOLATION rip 0xffffffff81000000 info 184 0`);
    rec(v, 'kvm_page_fault', `address 0x${(0x1000 * (us % 997)).toString(16)} error_code 0x184`);
    rec(v, 'kvm_entry', withId ? `vcpu ${v}, rip 0xffffffff81000000` : 'rip 0xffffffff81000000');
  };
  for (let i = 0; i * 3 < g.records; i++) triple(i % 2, g.late !== 'vcpu-id' || i % 2 === 0);
  if (g.late === 'thread') for (let i = 0; i < 10; i++) triple(2);
  if (g.late === 'vcpu-id') triple(1, true);
  if (g.late === 'earlier-ts') rec(0, 'kvm_exit', 'vcpu 0 reason HLT rip 0x1 info 0 0', '4.999999');
  if (g.late === 'prose') lines.push('Some prose  in the middle', 'and more  of it');
  for (let i = 0; i < 30; i++) triple(i % 2);
  return lines.join('\n') + '\n';
}

async function both(name: string, text: string) {
  const input = join(dir, name + '.txt');
  writeFileSync(input, text);
  const one = await importTrace(input, join(dir, name + '.one.mmulab'), { speculateAfter: 100 });
  const two = await importTrace(input, join(dir, name + '.two.mmulab'), { speculateAfter: 0 });
  const a = openSession(join(dir, name + '.one.mmulab')).session!;
  const b = openSession(join(dir, name + '.two.mmulab')).session!;
  return { one, two, a, b };
}

describe('one-pass import (speculative layout)', () => {
  for (const late of [undefined, 'thread', 'vcpu-id', 'earlier-ts', 'prose'] as const)
    it(`writes the session two passes write${late ? `, with a late ${late}` : ''}`, async () => {
      const text = trace({ records: 3000, late });
      const { one, two, a, b } = await both(late ?? 'steady', text);
      expect(one.ok && one.complete).toBe(true);
      expect({ ...one, seconds: 0 }).toEqual({ ...two, seconds: 0 });
      expect(a.header.scenario).toEqual(b.header.scenario);
      expect(a.header.vcpus).toEqual(b.header.vcpus);
      expect([...a.iterate()]).toEqual([...b.iterate()]);
      expect(a.complete).toBe(true);

      // and against the text itself: every line counted, every exit of every thread imported
      const lines = text.split('\n').length - 1;
      const source = (a.header.scenario as { source: { lines: number; records: number } }).source;
      expect(source.lines).toBe(lines);
      expect(source.records).toBe(text.split('\n').filter((l) => / \d+\.\d+: kvm_/.test(l)).length);
      const exitsText = text.split('\n').filter((l) => l.includes(': kvm_exit: ')).length;
      expect(a.summary().eventsByType.vmexit).toBe(exitsText);
      const threads = new Set(text.match(/CPU \d\/KVM-\d+/g));
      expect(one.vms.flatMap((v) => v.threads).length).toBe(threads.size);
    });
});
