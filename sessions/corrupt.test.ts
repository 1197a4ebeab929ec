import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openSession, type Diagnostic } from './reader.ts';

// The regression corpus of damaged files (sessions/fixtures/corrupt, made by make.ts there):
// each file's diagnostics, and which events survive, as docs/session-format.md says they must.

const dir = fileURLToPath(new URL('./fixtures/corrupt/', import.meta.url));
type Row = [Diagnostic['severity'], string, number | null];
interface Expected {
  /** The clean file it was made from (under fixtures/), when not v1/multi-vcpu.mmulab. */
  from?: string;
  atOpen?: Row[];
  afterReading?: Row[];
  lost?: number[];
  error?: Row;
}
const expected = JSON.parse(readFileSync(dir + 'expected.json', 'utf8')) as Record<string, Expected>;
const rows = (ds: Diagnostic[]): Row[] => ds.map((d) => [d.severity, d.code, d.byteOffset ?? null]);

const fixture = (name: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))));
const bases = new Map<string, Uint8Array>();
const base = (name = 'v1/multi-vcpu.mmulab') => bases.get(name) ?? bases.set(name, fixture(name)).get(name)!;
/** Events of the EVTS chunk at `offset` of a clean file: the prefix's count (payload + 16). */
const countAt = (clean: Uint8Array, offset: number) => new DataView(clean.buffer, clean.byteOffset).getUint32(offset + 8 + 16, true);
const eventsOf = (clean: Uint8Array) => openSession(clean).session!.eventCount;

describe('the corrupt-file corpus', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.mmulab'));

  it('every file has its expectation, and every expectation its file', () => {
    expect(files.sort()).toEqual(Object.keys(expected).filter((k) => k !== '_').sort());
  });

  for (const file of files) {
    it(file, () => {
      const want = expected[file]!;
      const { session, diagnostics } = openSession(dir + file);
      if (want.error) {
        expect(session).toBeUndefined();
        expect(rows(diagnostics)).toEqual([want.error]);
        expect(diagnostics[0]!.message.length).toBeGreaterThan(20);
        return;
      }
      expect(rows(diagnostics)).toEqual(want.atOpen);
      const events = [...session!.iterate()];
      expect(rows(diagnostics)).toEqual(want.afterReading);
      const clean = base(want.from);
      const lost = (want.lost ?? []).reduce((n, at) => n + countAt(clean, at), 0);
      expect(events.length).toBe(eventsOf(clean) - lost);
      for (const d of diagnostics) expect(d.message).toMatch(/^[A-Z0-9].*\.$/s);
    });
  }
});
