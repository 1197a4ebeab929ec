// `mmu-lab record` run as a real process: the event bound (chosen, or lifted with --no-limit),
// its message, and progress on stderr (plain lines off a terminal, a bar on one through script(1)).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession } from '../reader.ts';
import { DEFAULT_MAX_EVENTS, completion } from '../record.ts';

const bin = fileURLToPath(new URL('../../bin/mmu-lab.js', import.meta.url));
let dir: string;
let endless: string;

function cli(env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, ...env } });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-reccli-'));
  endless = join(dir, 'endless.json');
  const vm = { vcpus: 1, guest: { paging: 'long4', workload: { kind: 'kbuild', processes: 8, pages: 16, iterations: 100000 } }, mmu: { mode: 'shadow' } };
  writeFileSync(endless, JSON.stringify({ name: 'endless', seed: 3, vms: [vm, vm] }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mmu-lab record', () => {
  it('prints periodic progress lines off a terminal and says which bound stopped the VMs', () => {
    const out = join(dir, 'lines.mmulab');
    const r = cli({ MMU_LAB_PROGRESS_MS: '150' }, 'record', endless, '-o', out, '--max-events', '60000');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toMatch(/^recording: VM [12]\/2, [\d ]+ events, [\d ]+\/s, \d+\.\d s$/);
    expect(r.stdout).toMatch(/incomplete: VM 0 stopped at its bound of 60 000 events; VM 1 stopped at its bound of 60 000 events\n$/);
    const { session } = openSession(out);
    expect(session!.complete).toBe(false);
  });

  it('draws a bar in place on a terminal', () => {
    const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (script.status !== 0) {
      console.log('skipped: script(1) is not installed, so there is no terminal to draw on');
      return;
    }
    const out = join(dir, 'bar.mmulab');
    const command = [process.execPath, bin, 'record', endless, '-o', out, '--max-events', '150000'].map((a) => `'${a}'`).join(' ');
    // quiet for 1 ms instead of a second, so a fast machine that records it all within a second still draws
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', cwd: dir, env: { ...process.env, MMU_LAB_PROGRESS_MS: '1' } });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\r\[[#.]{24}\] +\d+ % of the bound {2}VM [12]\/2 {2}[\d ]+ events/);
    expect(r.stdout).not.toMatch(/^recording:/m);
    expect(existsSync(out)).toBe(true);
  });

  it('names the default bound and how to lift it when a VM hits it', () => {
    const bound = { maxEvents: DEFAULT_MAX_EVENTS, isDefault: true, lift: 'record with --no-limit' };
    expect(completion(['done', 'max-events'], bound)).toEqual({
      complete: false,
      message: 'VM 1 stopped at the default bound of 5 000 000 events (record with --no-limit to record it all)',
    });
    expect(completion(['done', 'done'], bound)).toEqual({ complete: true });
    expect(completion(['endless-fault-loop'], bound).message).toBe('VM 0 stopped: endless-fault-loop');
  });

  it('--no-limit lifts the bound; with --max-events it is one clear error', () => {
    const both = cli({}, 'record', endless, '-o', join(dir, 'x.mmulab'), '--max-events', '10', '--no-limit');
    expect(both.status).toBe(1);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
    expect(both.stderr).toMatch(/--max-events and --no-limit contradict each other/);
    const out = join(dir, 'free.mmulab');
    const r = cli({}, 'record', 'kbuild-zap', '-o', out, '--no-limit', '-q');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
    expect(openSession(out).session!.complete).toBe(true);
    expect(cli({}, 'record', '--help').stdout).toMatch(/--no-limit/);
  });
});
