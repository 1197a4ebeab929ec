/**
 * Live capture, end to end on this host's real KVM: the harness guest (tools/realkvm)
 * runs under the capture, and the session's counts are checked against KVM's own counters
 * (KVM_STATS=1). Also: the instance is ours only (the top buffer's switches are untouched), it
 * is gone after a normal end, an uncaught error and SIGTERM, and one left by a SIGKILLed capture
 * is removed by the next. Skips, saying why, without root, tracefs, /dev/kvm or gcc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MmuEvent } from '../../core/events.ts';
import { openSession } from '../reader.ts';
import { spteFills } from '../testing/zapClears.ts';
import { buildHarness, holdRealKvm, realKvmMissing, TRACEFS } from '../testing/realKvm.ts';
import { runCapture } from './cmd.ts';
import { CaptureUnavailable, INSTANCE_PREFIX, checkHost } from './tracefs.ts';
import { Capture } from './capture.ts';

const skip = realKvmMissing();
if (skip) console.log(`capture end-to-end tests skipped: ${skip}`);

const tmp = mkdtempSync(join(tmpdir(), 'mmu-capture-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const harness = (): string => buildHarness(tmp);

function stats(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of text.split('\n')) {
    const x = /^\s*(\S+) = (\d+)/.exec(l);
    if (x) m.set(x[1]!, Number(x[2]));
  }
  return m;
}

function events(path: string): MmuEvent[] {
  const o = openSession(path);
  if (!o.session) throw new Error(`${path} does not open`);
  return [...o.session.iterate()];
}

function ourInstances(): string[] {
  return existsSync(join(TRACEFS, 'instances')) ? execFileSync('ls', [join(TRACEFS, 'instances')], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith(INSTANCE_PREFIX)) : [];
}

describe('capture: what is missing is said in one sentence', () => {
  it('without root', () => expect(() => checkHost({ uid: 1000 })).toThrow(new CaptureUnavailable('capture needs root: tracefs instances and the kvm tracepoints are root-only (run it with sudo)')));
  it('without tracefs', () => expect(() => checkHost({ uid: 0, mounts: [join(tmp, 'none')] })).toThrow(/^tracefs is not mounted/));
  it.skipIf(!existsSync(join(TRACEFS, 'events', 'kvm')))('without KVM', () =>
    expect(() => checkHost({ uid: 0, kvmDevice: join(tmp, 'kvm') })).toThrow(/^this host has no KVM \(.*kvm is missing/),
  );
});

describe.skipIf(skip !== undefined)('capture: the harness guest on this host', () => {
  // one file at a time runs guests on this host's KVM (holdRealKvm: a whole-host recording
  // would count another file's guest)
  let release: (() => void) | undefined;
  beforeAll(async () => void (release = await holdRealKvm()), 600_000);
  afterAll(() => release?.());
  it('demand paging at CPL3: one spte fill per pf_fixed of KVM\'s counters; tracing state left as it was', async () => {
    const before = ['tracing_on', 'events/kvm/enable', 'events/kvmmmu/enable'].map((f) => readFileSync(join(TRACEFS, f), 'utf8'));
    let output = '';
    const out = join(tmp, 'demand.mmulab');
    const { result, capture } = await runCapture(out, { command: ['env', 'GUEST_CPL3=1', 'KVM_STATS=1', harness(), 'demand', '64'], onOutput: (t) => (output += t) });
    expect(result.ok, result.message).toBe(true);
    expect(result.flavour).toBe('capture');
    const kvm = stats(output);
    expect(kvm.get('vcpu0.pf_fixed')).toBeGreaterThanOrEqual(64);
    expect(capture.stats.lost).toBe(0);
    expect(spteFills(events(out))).toBe(kvm.get('vcpu0.pf_fixed'));
    expect(existsSync(capture.instanceDir)).toBe(false);
    expect(['tracing_on', 'events/kvm/enable', 'events/kvmmmu/enable'].map((f) => readFileSync(join(TRACEFS, f), 'utf8'))).toEqual(before);
  }, 60_000);

  it("the guest's own #PFs: one guest_fault per pf_guest of KVM's counters", async () => {
    let output = '';
    const out = join(tmp, 'gpf.mmulab');
    const { result } = await runCapture(out, { command: ['env', 'KVM_STATS=1', harness(), 'gpf', '16'], onOutput: (t) => (output += t) });
    expect(result.ok, result.message).toBe(true);
    expect(events(out).filter((e) => e.type === 'guest_fault').length).toBe(stats(output).get('vcpu0.pf_guest'));
  }, 60_000);

  it('the session grows while the guest runs (records reach the session before the capture stops)', async () => {
    const out = join(tmp, 'live.mmulab');
    const ac = new AbortController();
    let seen = 0;
    const run = runCapture(out, { command: ['sh', '-c', `for i in 1 2 3 4 5 6; do GUEST_CPL3=1 ${harness()} demand 16 >/dev/null; sleep 0.3; done`], stopSignal: ac.signal, speculateAfter: 1 });
    let ended = false;
    void run.finally(() => (ended = true)).catch(() => undefined);
    // before the capture ends (the command runs 6 x 0.3 s and more), it has handed records to the session:
    // polled until then, however long a loaded machine makes it, instead of for a fixed 1.5 s
    while (!ended && seen === 0) {
      await new Promise((r) => setTimeout(r, 100));
      if (existsSync(out)) {
        // a session still being written opens as far as it is written (docs/session-format.md);
        // a closed one (no completeness limit) would prove nothing about "while recording"
        const o = openSession(out);
        if (o.session?.completeness !== undefined) seen = Math.max(seen, o.session.eventCount);
      }
    }
    const { result } = await run;
    expect(seen).toBeGreaterThan(0);
    console.log(`capture: ${seen} events readable from the session while recording`);
    expect(result.ok, result.message).toBe(true);
    expect(spteFills(events(out))).toBeGreaterThanOrEqual(6 * 16);
  }, 60_000);

  const probe = new URL('./testing/crashProbe.ts', import.meta.url).pathname;
  const startProbe = (mode: string) => spawn(process.execPath, ['--import', 'tsx', probe, mode], { stdio: ['ignore', 'pipe', 'ignore'] });
  const instanceOf = (p: ReturnType<typeof startProbe>) =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      p.stdout!.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\n')) resolve(text.trim());
      });
      p.on('exit', () => reject(new Error('the probe ended before it started a capture')));
    });
  const ended = (p: ReturnType<typeof startProbe>) => new Promise<void>((r) => (p.exitCode !== null ? r() : p.on('exit', () => r())));

  it('an uncaught error removes the instance on the way out', async () => {
    const p = startProbe('throw');
    const dir = await instanceOf(p);
    await ended(p);
    expect(existsSync(dir)).toBe(false);
  }, 30_000);

  it('SIGTERM removes the instance', async () => {
    const p = startProbe('wait');
    const dir = await instanceOf(p);
    expect(existsSync(dir)).toBe(true);
    p.kill('SIGTERM');
    await ended(p);
    expect(existsSync(dir)).toBe(false);
  }, 30_000);

  it('an instance left by a SIGKILLed capture is removed by the next capture', async () => {
    const p = startProbe('wait');
    const dir = await instanceOf(p);
    p.kill('SIGKILL');
    await ended(p);
    expect(existsSync(dir)).toBe(true);
    const c = new Capture({ pids: [process.pid] });
    try {
      expect(c.removedStale).toContain(dir.replace(/^.*\//, ''));
      expect(existsSync(dir)).toBe(false);
    } finally {
      c.close();
    }
    expect(ourInstances().filter((n) => n === `${INSTANCE_PREFIX}${process.pid}`)).toEqual([]);
  }, 30_000);

  it('mmu-lab capture: Ctrl-C stops it, keeps the session and removes the instance', async () => {
    const out = join(tmp, 'ctrl-c.mmulab');
    const bin = new URL('../../bin/mmu-lab.js', import.meta.url).pathname;
    const cli = spawn(process.execPath, [bin, 'capture', '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // recording once it says so; then the guest runs and Ctrl-C comes
    const started = Date.now();
    while (!stderr.includes('Ctrl-C stops') && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 100));
    const instance = join(TRACEFS, 'instances', `${INSTANCE_PREFIX}${cli.pid}`);
    expect(existsSync(instance)).toBe(true);
    execFileSync(harness(), ['demand', '16'], { env: { ...process.env, GUEST_CPL3: '1' }, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    cli.kill('SIGINT');
    const code = await new Promise<number | null>((r) => cli.on('exit', r));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^imported .* records of ctrl-c\.mmulab \(capture\)/);
    expect(existsSync(instance)).toBe(false);
    expect(spteFills(events(out))).toBeGreaterThanOrEqual(16);
  }, 60_000);

  it("another user's instance is left alone", () => {
    const theirs = join(TRACEFS, 'instances', 'someone-else-test');
    mkdirSync(theirs);
    try {
      const c = new Capture({ pids: [process.pid] });
      c.close();
      expect(existsSync(theirs)).toBe(true);
    } finally {
      rmSync(theirs, { recursive: true, force: true });
      if (existsSync(theirs)) execFileSync('rmdir', [theirs]);
    }
  });
});
