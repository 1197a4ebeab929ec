// The host recorder's files (issue 18 §5/§6) with real worker threads and real files: a run is
// written as `<id>.part` (never listed as a session) and renamed to `<id>` on close; a host
// killed mid-run leaves a `.part` file that opens with every event recorded up to a pause the
// recorder's 250 ms timer had time to flush.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './testing/wait.ts';
import { ENDLESS, kbuildScenario } from './testing/scenarios.ts';
import { openSession } from '../../sessions/reader.ts';
import { HostService } from './hostService.ts';

let dir: string;
let service: HostService;

const endless = () => kbuildScenario('recorder files', 3, [ENDLESS, ENDLESS]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-recfiles-'));
  service = new HostService({ sessionsDir: dir, host: 'browser', progressIntervalMs: 50 });
});

afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('host recorder files', () => {
  it('writes <id>.part during the run (not listed), and <id> after Stop, which verifies', async () => {
    const run = await service.vms.start(endless(), { sessionId: 'live.mmulab' });
    await waitFor(() => service.vms.status(run.runId).events > 1000);
    expect(existsSync(join(dir, 'live.mmulab'))).toBe(false);
    expect(existsSync(join(dir, 'live.mmulab.part'))).toBe(true);
    const listed = await service.call('sessions.list', {});
    expect(listed.map((s) => s.id)).not.toContain('live.mmulab');
    expect(listed.map((s) => s.id)).not.toContain('live.mmulab.part');
    service.vms.control(run.runId, 'stop');
    const final = await service.waitForRun(run.runId);
    expect(final.state).toBe('stopped');
    expect(existsSync(join(dir, 'live.mmulab.part'))).toBe(false);
    const { session, diagnostics } = openSession(join(dir, 'live.mmulab'));
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(session?.closed).toBe(true);
    expect(session?.eventCount).toBe(final.events);
    expect((await service.call('sessions.list', {})).map((s) => s.id)).toContain('live.mmulab');
  });

  it('a full disk fails the run with a message saying the file is kept, incomplete, under its final name', async (ctx) => {
    const disk = mkdtempSync(join(tmpdir(), 'mmulab-recfull-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk], { stdio: 'pipe' });
    } catch (e) {
      rmSync(disk, { recursive: true, force: true });
      console.log(`skipped: cannot mount a tmpfs (${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}); needs root`);
      return ctx.skip();
    }
    const full = new HostService({ sessionsDir: disk, host: 'browser', progressIntervalMs: 50 });
    try {
      const run = await full.vms.start(endless(), { sessionId: 'full.mmulab' });
      const final = await full.waitForRun(run.runId);
      expect(final.state).not.toBe('finished');
      expect(final.message).toMatch(/failed \(the disk is full\) after [\d,  ]+ events: the file holds the [\d,  ]+ events written before and is marked incomplete/);
      expect(existsSync(join(disk, 'full.mmulab.part'))).toBe(false);
      const { session, diagnostics } = openSession(join(disk, 'full.mmulab'));
      expect(session, JSON.stringify(diagnostics)).toBeDefined();
      expect(diagnostics.map((d) => d.code)).toContain('recording_incomplete');
      expect(session!.eventCount).toBeGreaterThan(0);
    } finally {
      await full.close();
      spawnSync('umount', [disk]);
      rmSync(disk, { recursive: true, force: true });
    }
  }, 60_000);

  it('a host killed mid-run leaves a readable .part file holding every event from before a 600 ms pause', async () => {
    const child = fileURLToPath(new URL('./testing/recordKillChild.ts', import.meta.url));
    const killDir = mkdtempSync(join(tmpdir(), 'mmulab-reckill-'));
    try {
      const events = await new Promise<number>((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', child, killDir, '600'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('ready\n')) p.kill('SIGKILL');
        });
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('error', reject);
        p.on('exit', (_code, signal) => {
          if (signal !== 'SIGKILL') return reject(new Error(`the host was not killed: ${stderr}`));
          resolve(Number(/events (\d+)/.exec(text)?.[1] ?? NaN));
        });
      });
      expect(events).toBeGreaterThan(0);
      expect(existsSync(join(killDir, 'killed.mmulab'))).toBe(false);
      const { session, diagnostics } = openSession(join(killDir, 'killed.mmulab.part'));
      expect(session, JSON.stringify(diagnostics)).toBeDefined();
      expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(diagnostics.map((d) => d.code)).toContain('recording_incomplete');
      // the workers were paused: only the recorder's timer could have flushed the last events
      expect(session!.eventCount).toBe(events);
    } finally {
      rmSync(killDir, { recursive: true, force: true });
    }
  }, 30_000);
});
