/**
 * The import of decoded records (records.ts): records with the kernel's field names, as a
 * trace.dat reader gives them, go through the same mapping as text. Expected values come from
 * the SDM's numbering (basic exit reason 48 = EPT violation, 30 = I/O instruction) and the
 * kernel's field layout, not from the importer's output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MmuEvent } from '../../core/events.ts';
import { openSession } from '../reader.ts';
import { importRecords, type FieldRecord, type FieldRecordBatch, type RecordSource } from './records.ts';
import { failedToParseFields } from './fields.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-records-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function source(records: FieldRecord[], rereadable = true): RecordSource & { passes: number } {
  const s = {
    file: 'x.trace.dat',
    bytes: 1000,
    flavour: 'trace.dat' as const,
    evidence: ['test records'],
    rereadable,
    passes: 0,
    async *read(): AsyncIterable<FieldRecordBatch> {
      s.passes++;
      for (let i = 0; i < records.length; i += 2) yield { records: records.slice(i, i + 2), bytes: Math.round((1000 * Math.min(records.length, i + 2)) / records.length) };
    },
  };
  return s;
}

const rec = (ts: number, pid: number, comm: string, event: string, fields: Record<string, number | bigint>): FieldRecord => ({
  ts: BigInt(ts) + 1_000_000_000_000n,
  cpu: 0,
  pid,
  comm,
  system: event.startsWith('kvm_mmu') ? 'kvmmmu' : 'kvm',
  event,
  fields: new Map(Object.entries(fields)),
});

async function load(src: RecordSource, speculateAfter?: number): Promise<MmuEvent[]> {
  const out = join(dir, `s${Math.random().toString(36).slice(2)}.mmulab`);
  const r = await importRecords(src, out, speculateAfter === undefined ? {} : { speculateAfter });
  expect(r.ok).toBe(true);
  const { session } = openSession(out);
  return [...session!.iterate()];
}

describe('importRecords', () => {
  const trace = [
    rec(0, 10, 'CPU 0/KVM', 'kvm_exit', { exit_reason: 48, isa: 1, vcpu_id: 0, info2: 0x1234000, guest_rip: 0xfff0 }),
    rec(100, 10, 'CPU 0/KVM', 'kvm_mmu_set_spte', { gfn: 0x1234, spte: 0x80000001234567n, sptep: 0x22e8fa080, level: 1, r: 1, x: 1, u: 1 }),
    rec(200, 10, 'CPU 0/KVM', 'kvm_entry', { vcpu_id: 0, rip: 0xfff0 }),
    rec(300, 11, 'CPU 1/KVM', 'kvm_exit', { exit_reason: 30, isa: 1, vcpu_id: 1 }),
    rec(400, 11, 'CPU 1/KVM', 'kvm_entry', { vcpu_id: 1 }),
    rec(500, 11, 'CPU 1/KVM', 'kvm_fpu', { load: 1 }),
  ];

  it('maps fields to the same events as text: exits by their SDM numbers, sptes, raw events as name=value', async () => {
    const events = await load(source(trace));
    const exits = events.filter((e) => e.type === 'vmexit');
    expect(exits.map((e) => [e.vcpu, e.reason, e.duration])).toEqual([
      [0, 'EPT_VIOLATION', 200],
      [1, 'IO_INSTRUCTION', 100],
    ]);
    const sp = events.find((e) => e.type === 'spte_write');
    expect(sp && sp.type === 'spte_write' && [sp.level, sp.new]).toEqual([1, 0x80000001234567n]);
    const raw = events.find((e) => e.type === 'raw');
    expect(raw && raw.type === 'raw' && [raw.name, raw.text, raw.vcpu]).toEqual(['kvm_fpu', 'load=1', 1]);
  });

  it('reads a re-readable source again when a later record shows a new vCPU, and gives the same events', async () => {
    const one = source(trace);
    const speculated = await load(one, 2);
    expect(one.passes).toBe(2);
    const whole = await load(source(trace), 0);
    expect(speculated).toEqual(whole);
  });

  it('keeps going in one pass on a source that cannot be read again (a live capture)', async () => {
    const live = source(trace, false);
    const events = await load(live, 2);
    expect(live.passes).toBe(1);
    expect(events.filter((e) => e.type === 'vmexit')).toHaveLength(2);
  });
});

describe('[FAILED TO PARSE] payloads', () => {
  it('reads name=value pairs as numbers', () => {
    const f = failedToParseFields('[FAILED TO PARSE] exception=14 has_error=1 error_code=6 reinjected=0 big=18446744073709551615');
    expect(f && [...f]).toEqual([
      ['exception', 14],
      ['has_error', 1],
      ['error_code', 6],
      ['reinjected', 0],
      ['big', 0xffffffffffffffffn],
    ]);
    expect(failedToParseFields('#PF (0x6)')).toBeUndefined();
  });
});
