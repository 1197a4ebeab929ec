/**
 * Packed batches (packed.ts, unpacked by datRecords.ts) give every event of a trace.dat as the
 * reader decodes it directly: name, pid, comm, time and every field, whether its payload was
 * interned (a reference to an earlier event's) or not, with the table's bounds as shipped and
 * with bounds so low that interning stops and the table fills on the real samples.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fieldHex, fieldsText } from '../import/fields.ts';
import { DatUnpacker, fieldRecord } from './datRecords.ts';
import { fieldsObject } from './fields.ts';
import { EventPacker } from './packed.ts';
import { TraceDatReader } from './reader.ts';
import { REAL_618_DIR } from '../testing/realPaths.ts';

interface Seen {
  event: string;
  system: string | undefined;
  pid: number;
  comm: string;
  sec: number;
  ns: number;
  fields: Record<string, unknown>;
  text: string;
  hex: string | undefined;
}

function direct(path: string): Seen[] {
  const reader = new TraceDatReader(path);
  const out: Seen[] = [];
  for (let r = reader.next(); r; r = reader.next()) {
    const fr = fieldRecord(r, reader.meta.littleEndian);
    const rec = fr.importRecord!(out.length + 1);
    out.push({
      event: fr.event,
      system: fr.system,
      pid: fr.pid,
      comm: fr.comm,
      sec: rec.sec,
      ns: rec.ns,
      fields: fieldsObject(r.view, r.offset, r.length, r.format, reader.meta.littleEndian),
      text: fieldsText(fr.fields),
      hex: fieldHex(fr.fields, 'pte'),
    });
  }
  reader.close();
  return out;
}

function packed(path: string, batch: number, limits?: { entries: number; trial: number }): { seen: Seen[]; interned: number } {
  const reader = new TraceDatReader(path);
  const packer = new EventPacker(reader, limits);
  const unpacker = new DatUnpacker(reader.meta);
  const seen: Seen[] = [];
  for (let p = packer.next(batch); p; p = packer.next(batch)) {
    const b = unpacker.batch(p);
    for (let i = 0; i < b.count; i++) {
      // every other record kept (a new object), the others reused: both must read the same
      const r = b.importRecord(i, seen.length + 1, i % 2 === 0);
      // each field by name, twice over (an interned payload keeps its last reads)
      const fields: Record<string, unknown> = {};
      for (const k of [...r.fields!.keys(), ...r.fields!.keys()]) fields[k] = r.fields!.get(k);
      expect(fields).toEqual(Object.fromEntries(r.fields!));
      seen.push({ event: r.event, system: r.system, pid: r.pid, comm: r.comm, sec: r.sec, ns: r.ns, fields, text: fieldsText(r.fields!), hex: fieldHex(r.fields!, 'pte') });
    }
  }
  reader.close();
  return { seen, interned: packer.interned };
}

describe('packed trace.dat events', () => {
  for (const name of ['demand-cpl3', 'gpf-cpl0', 'cr3-cpl0']) {
    it(`${name}: every event unpacks as the reader decodes it, interned or not`, () => {
      const path = join(REAL_618_DIR, `${name}.trace.dat`);
      const want = direct(path);
      const shipped = packed(path, 1000);
      // the walks repeat their entries: fewer distinct payloads than events
      expect(shipped.interned).toBeGreaterThan(0);
      expect(shipped.interned).toBeLessThan(want.length);
      expect(shipped.seen).toEqual(want);
      const low = packed(path, 97, { entries: 40, trial: 16 });
      expect(low.interned).toBe(40);
      expect(low.seen).toEqual(want);
    });
  }
});
