// capture.* through the host's API, on this host's real KVM: start, the harness guest runs, the
// session opens and grows while it records, stop keeps it; KVM's own counter checks the count.
// Skips (saying why) without root, tracefs, /dev/kvm or gcc.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureStatus } from '../api/contract.ts';
import { HostService } from './hostService.ts';
import { waitFor } from './testing/wait.ts';
import { openSession } from '../../sessions/reader.ts';
import { spteFills } from '../../sessions/testing/zapClears.ts';
import { buildHarness, holdRealKvm, onlyBuildMissing, realKvmMissing } from '../../sessions/testing/realKvm.ts';

const skip = realKvmMissing();
if (skip) console.log(`capture API tests skipped: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'mmu-captures-'));
let service: HostService;
const events: CaptureStatus[] = [];
beforeAll(() => {
  service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'browser', progressIntervalMs: 100 });
  service.onEvent((m) => {
    if (m.event === 'capture.progress') events.push(m.payload as CaptureStatus);
  });
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('capture API', () => {
  it('capture.check says whether this host can record, and what is missing', async () => {
    const c = await service.call('capture.check', {});
    expect(c.available).toBe(skip === undefined || onlyBuildMissing(skip));
    if (!c.available) expect(c.problem).toMatch(/root|tracefs|KVM/);
  });

  describe.skipIf(skip !== undefined)("on this host's KVM", () => {
    // one file at a time runs guests on this host's KVM (holdRealKvm: a whole-host recording
    // would count another file's guest)
    let release: (() => void) | undefined;
    beforeAll(async () => void (release = await holdRealKvm()), 600_000);
    afterAll(() => release?.());

    it('records the harness guest into a session that grows while it records', async () => {
      const harness = buildHarness(dir);
      const started = await service.call('capture.start', {});
      expect(started.state).toBe('recording');
      await expect(service.call('capture.start', {})).rejects.toThrow(/already recording/);
      // the guest runs three times, apart; the session is opened between runs
      let pfFixed = 0;
      let seenWhileRecording = 0;
      const look = async (): Promise<boolean> => {
        try {
          const s = await service.call('sessions.open', { id: started.sessionId });
          seenWhileRecording = Math.max(seenWhileRecording, s.vcpus.reduce((a, v) => a + v.events, 0));
        } catch {
          // not written yet
        }
        return seenWhileRecording > 0;
      };
      for (let i = 0; i < 3; i++) {
        const out = execFileSync(harness, ['demand', '32'], { env: { ...process.env, GUEST_CPL3: '1', KVM_STATS: '1' }, encoding: 'utf8' });
        pfFixed += Number(/vcpu0\.pf_fixed = (\d+)/.exec(out)?.[1] ?? NaN);
        await new Promise((r) => setTimeout(r, 400));
        await look();
      }
      // Still recording (Stop comes below): the session opens with events, and progress said it was growing.
      // Waited for rather than assumed after the 400 ms gaps, which a loaded machine can outrun.
      await waitFor(look);
      await waitFor(() => events.some((e) => e.captureId === started.captureId && e.state === 'recording' && e.events > 0));
      const end = await service.call('capture.stop', { captureId: started.captureId });
      expect(end.state, end.message).toBe('done');
      // other processes' guests may run on this host too (no pid filter): at least the harness's sptes
      const { session } = openSession(join(dir, 'sessions', end.sessionId));
      expect(spteFills(session!.iterate())).toBeGreaterThanOrEqual(pfFixed);
      expect((await service.call('sessions.list', {})).map((s) => s.id)).toContain(end.sessionId);
    }, 60_000);
  });
});
