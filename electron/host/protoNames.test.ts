// Names that are also Object.prototype's (`constructor`, `__proto__`, `toString`) as user data:
// event types asked for, exit reasons and handlings recorded in a session, lab answers. Each must
// be counted or answered like any other name, never reach an inherited property.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionWriter } from '../../sessions/writer.ts';
import { HostService } from './hostService.ts';

const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty'] as const;
let dir: string;
let service: HostService;

/** A session whose exits have prototype names as reasons and handlings: reason i has i + 1 exits. */
function write(id: string): void {
  const w = SessionWriter.create(join(service.sessionsDir, id), { scenario: { name: 'proto names', vms: [{ vcpus: 1 }] } });
  let t = 1;
  NAMES.forEach((name, i) => {
    for (let k = 0; k <= i; k++) w.append({ t: t++, vm: 0, vcpu: 0, type: 'vmexit', reason: name, handling: name, duration: 10 });
  });
  w.append({ t: t++, vm: 0, vcpu: 0, type: 'vmexit', reason: 'EPT_VIOLATION', handling: 'map', duration: 7 });
  w.close({ complete: true });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-proto-'));
  service = new HostService({ sessionsDir: dir, host: 'browser' });
  write('proto.mmulab');
  write('proto-b.mmulab');
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('prototype names as user data', () => {
  it('sessions.events with an event type named like a prototype property gives an empty answer', async () => {
    for (const type of ['constructor', '__proto__', 'toString']) {
      const r = await service.call('sessions.events', { id: 'proto.mmulab', from: 0, count: 10, types: [type] });
      expect(r).toEqual({ total: 0, events: [] });
    }
    const mixed = await service.call('sessions.events', { id: 'proto.mmulab', from: 0, count: 100, types: ['constructor', 'vmexit'] });
    expect(mixed.total).toBe(11);
  });

  it('exit reasons and handlings named like prototype properties are counted as any other', async () => {
    const summary = await service.call('sessions.open', { id: 'proto.mmulab' });
    expect(summary.events).toBe(11);
    const byReason = new Map(Object.entries(summary.exitsByReason));
    // The contract's record schema (zod) drops a `__proto__` key on the way out; the tables
    // below are arrays and keep it. Every other name is counted, none reads Object.prototype.
    byReason.delete('__proto__');
    expect(Object.fromEntries(byReason)).toEqual({ constructor: 1, toString: 3, hasOwnProperty: 4, EPT_VIOLATION: 1 });
    const counters = await service.call('sessions.counters', { id: 'proto.mmulab', t0: 0, t1: 1000 });
    const reasons = new Map(counters.byReason.map((r) => [r.key, r.count]));
    expect([...reasons.entries()].sort()).toEqual(
      [
        ['EPT_VIOLATION', 1],
        ['__proto__', 2],
        ['constructor', 1],
        ['hasOwnProperty', 4],
        ['toString', 3],
      ].sort(),
    );
    const compare = await service.call('sessions.compare', { a: 'proto.mmulab', b: 'proto-b.mmulab' });
    const rows = new Map(compare.exitsByReason.map((r) => [r.key, [r.a, r.b]]));
    expect(rows.get('constructor')).toEqual([1, 1]);
    expect(rows.get('__proto__')).toEqual([2, 2]);
    expect(rows.get('toString')).toEqual([3, 3]);
  });
});
