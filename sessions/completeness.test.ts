import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { MmuEvent } from '../core/events.ts';
import { SessionWriter } from './writer.ts';
import { openSession } from './reader.ts';

// Issue 18 §5: a cut recording says up to when each lane is complete and up to when all are,
// and a lane's events wait in the writer's buffer at most `flushMs` of wall time (while events
// keep coming), so a crash loses at most that much of any lane.

const dir = mkdtempSync(join(tmpdir(), 'mmulab-cut-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bin = fileURLToPath(new URL('../bin/mmu-lab.js', import.meta.url));

const fault = (t: number, vcpu: number): MmuEvent => ({ t, vm: 0, vcpu, type: 'guest_fault', va: 0x1000, errorCode: 2 }) as MmuEvent;
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('a recording cut short', () => {
  it('says up to when each vCPU, and all vCPUs, are complete (in the API and in info)', () => {
    // vCPU 1 runs 4x as often as vCPU 0; chunks of 100 events; never closed (a killed recorder)
    const path = join(dir, 'cut.mmulab');
    const w = SessionWriter.create(path, { scenario: { name: 'cut', seed: 1, vms: [{ vcpus: 2 }] }, vcpus: [2] }, { chunkEvents: 100, flushMs: 1e9 });
    for (let i = 0; i < 1000; i++) {
      w.append(fault(i * 40, 0));
      for (let k = 0; k < 4; k++) w.append(fault(i * 40 + 10 * k, 1));
    }
    // on disk: vCPU 0's first 1000 events (10 chunks), vCPU 1's first 4000 (40 chunks), nothing buffered
    for (let i = 1000; i < 1050; i++) w.append(fault(i * 40, 0)); // 50 events of vCPU 0 stay in the buffer
    for (let i = 4000; i < 4090; i++) w.append(fault(i * 10, 1)); // 90 of vCPU 1 stay in the buffer
    const { session, diagnostics } = openSession(path);
    const c = session!.completeness!;
    // vCPU 0's last chunk ends with its event 999 (t = 39 960); vCPU 1's with its event 3999 (t = 999*40 + 30)
    expect(c.lanes).toEqual([
      { vm: 0, vcpu: 0, events: 1000, completeNs: 39_960 },
      { vm: 0, vcpu: 1, events: 4000, completeNs: 39_990 },
    ]);
    expect(c.allLanesNs).toBe(39_960);
    expect(session!.summary().completeness).toEqual(c);
    const cut = diagnostics.find((d) => d.code === 'recording_incomplete')!;
    expect(cut.message).toContain('all vCPUs are complete up to t = ');
    expect(cut.message).toContain('VM 0 vCPU 1 up to ');
    const info = spawnSync(process.execPath, [bin, 'info', path], { encoding: 'utf8' });
    expect(info.status).toBe(2);
    expect(info.stdout).toMatch(/^Complete {3}all vCPUs up to t = 39\.960 µs; after that some vCPUs' events may be missing$/m);
    expect(info.stdout).toMatch(/VM 0 vCPU 1: complete up to t = 39\.990 µs/);
    const json = JSON.parse(spawnSync(process.execPath, [bin, 'info', '--json', path], { encoding: 'utf8' }).stdout) as { completeness: unknown };
    expect(json.completeness).toEqual(c);
  });

  it('a closed recording has no completeness limit', () => {
    const path = join(dir, 'closed.mmulab');
    const w = SessionWriter.create(path, { scenario: { name: 'closed', seed: 1, vms: [{ vcpus: 1 }] }, vcpus: [1] });
    w.append(fault(5, 0));
    w.close({ complete: true });
    expect(openSession(path).session!.completeness).toBeUndefined();
  });

  it('a lane is written within flushMs of wall time while events keep coming', () => {
    const path = join(dir, 'flush.mmulab');
    const w = SessionWriter.create(path, { scenario: { name: 'flush', seed: 1, vms: [{ vcpus: 2 }] }, vcpus: [2] }, { flushMs: 100 });
    w.append(fault(1, 0)); // one event of vCPU 0, far below a chunk's 4096
    sleep(150);
    // vCPU 1 keeps the recorder busy: past flushMs, the writer writes every lane's buffer
    for (let i = 0; i < 600; i++) w.append(fault(10 + i, 1));
    const s = openSession(path).session!;
    expect(s.completeness!.lanes[0]).toEqual({ vm: 0, vcpu: 0, events: 1, completeNs: 1 });
    // and without the clock rule (an hour), vCPU 0's event would still be only in memory
    const lazy = join(dir, 'lazy.mmulab');
    const w2 = SessionWriter.create(lazy, { scenario: { name: 'lazy', seed: 1, vms: [{ vcpus: 2 }] }, vcpus: [2] }, { flushMs: 3_600_000 });
    w2.append(fault(1, 0));
    sleep(150);
    for (let i = 0; i < 600; i++) w2.append(fault(10 + i, 1));
    expect(openSession(lazy).session!.completeness!.lanes[0]!.events).toBe(0);
  });
});
