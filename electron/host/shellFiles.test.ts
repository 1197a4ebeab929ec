// Files from the desktop shell: hostile drops refused with one clear line, scenario files
// recorded, trace files imported, Save As/Export writing only to the destination given (the
// save dialog's), with nothing half-written on failure. Real files, a real host service.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API, API_METHODS, ApiError, type EventMessage, type RunStatus } from '../api/contract.ts';
import { HostService } from './hostService.ts';
import { classifyShellFile, exportSession, importTraceFile, startScenarioFile } from './shellFiles.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let service: HostService;
const events: EventMessage[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-shellfiles-'));
  service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'electron', version: '1.0.0' });
  service.onEvent((m) => events.push(m));
});
afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<ApiError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected a rejection');
}

describe('a dropped path (untrusted: it comes from the renderer process)', () => {
  it('is refused with one clear line unless it is an absolute path to a file kind we take', () => {
    const refused: Array<[unknown, RegExp]> = [
      [42, /must be a string, not number/],
      [null, /must be a string, not null/],
      [{ path: '/x.mmulab' }, /must be a string, not object/],
      [['/x.mmulab'], /must be a string, not object/],
      ['', /empty/],
      ['/' + 'a'.repeat(5000) + '.mmulab', /5008 characters long; the limit is 4096/],
      ['/tmp/x.mmulab\0.txt', /NUL byte/],
      ['x.mmulab', /not an absolute path/],
      ['../../etc/passwd.mmulab', /not an absolute path/],
      ['/etc/passwd', /passwd is not a file MMU Lab opens/],
      ['/home/u/evil.exe', /evil\.exe is not a file MMU Lab opens/],
      ['/home/u/.bashrc', /is not a file MMU Lab opens/],
    ];
    for (const [path, message] of refused) {
      const r = classifyShellFile(path);
      expect(r.ok, String(path).slice(0, 40)).toBe(false);
      if (!r.ok) {
        expect(r.problem).toMatch(message);
        expect(r.problem).not.toContain('\n');
      }
    }
    expect(classifyShellFile('/home/u/run.MMULAB')).toEqual({ ok: true, kind: 'session', path: '/home/u/run.MMULAB' });
    expect(classifyShellFile('/home/u/lab.yaml')).toMatchObject({ ok: true, kind: 'scenario' });
    expect(classifyShellFile('/home/u/lab.json')).toMatchObject({ ok: true, kind: 'scenario' });
    expect(classifyShellFile('/sys/kernel/tracing/trace')).toMatchObject({ ok: true, kind: 'trace' });
    expect(classifyShellFile('/home/u/report.txt')).toMatchObject({ ok: true, kind: 'trace' });
  });
});

describe('no API method takes a path', () => {
  it('refuses a path parameter on every method: files reach the host only through the shell', async () => {
    for (const method of API_METHODS) {
      // The schema itself: no parameter is a path, and an extra "path" key is refused.
      const parsed = API[method].params.safeParse({ path: '/etc/passwd' });
      expect(parsed.success, method).toBe(false);
      expect(parsed.error?.issues.some((i) => i.code === 'unrecognized_keys' && i.keys.includes('path')), method).toBe(true);
      // And over the wire, with one clear error.
      const r = await service.handleRequest(JSON.stringify({ id: 1, method, params: { path: '/etc/passwd' } }));
      expect(r, method).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    }
    expect(await service.call('app.info', {})).toMatchObject({ host: 'electron' }); // still serving
  });
});

describe('scenario files', () => {
  it('records a YAML scenario and refuses what is not one, saying why', async () => {
    const yaml = join(dir, 'two-vms.yaml');
    writeFileSync(
      yaml,
      [
        'name: from a yaml file',
        'seed: 5',
        'vms:',
        '  - vcpus: 1',
        '    guest: { workload: { kind: demand-paging, pages: 8 } }',
        '    mmu: { mode: shadow }',
        '  - vcpus: 1',
        '    guest: { workload: { kind: demand-paging, pages: 8 } }',
        '    mmu: { mode: tdp }',
      ].join('\n'),
    );
    const started = await startScenarioFile(service, yaml);
    const final: RunStatus = await service.waitForRun(started.runId);
    expect(final.state, final.message).toBe('finished');
    expect(final.vms).toHaveLength(2);
    const summary = await service.call('sessions.open', { id: final.sessionId });
    expect(summary.scenarioName).toBe('from a yaml file');

    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'name: [unclosed');
    expect((await rejection(startScenarioFile(service, broken))).message).toMatch(/^broken\.yaml is not JSON or YAML: /);
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ name: 'x', vms: [{ guest: { workload: { kind: 'nope' } } }] }));
    expect((await rejection(startScenarioFile(service, wrong))).message).toMatch(/^scenario: vms\[0\]\.guest\.workload/);
    const huge = join(dir, 'huge.json');
    writeFileSync(huge, ' '.repeat(2 << 20));
    expect(await rejection(startScenarioFile(service, huge))).toMatchObject({ code: 'too-large' });
    expect(await rejection(startScenarioFile(service, join(dir, 'missing.yaml')))).toMatchObject({ code: 'not-found' });
  });
});

describe('trace files', () => {
  it('imports a trace as a new session, asks the UI to open it, and reports progress', async () => {
    const fixture = join(root, 'sessions', 'import', 'fixtures', 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt');
    const exitLines = readFileSync(fixture, 'utf8').split('\n').filter((l) => /\bkvm_exit:/.test(l)).length;
    events.length = 0;
    const fractions: number[] = [];
    const id = await importTraceFile(service, fixture, (p) => fractions.push(p.fraction));
    expect(id).toBe('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.mmulab');
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['sessions.changed', 'sessions.openRequested']));
    expect(events.find((e) => e.event === 'sessions.openRequested')?.payload).toEqual({ id });
    const summary = await service.call('sessions.open', { id });
    expect(summary.eventsByType.vmexit).toBe(exitLines);
    expect(fractions.at(-1)).toBe(1);
    // The same file again gets a name of its own.
    expect(await importTraceFile(service, fixture)).toBe('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023-2.mmulab');

    const notTrace = join(dir, 'notes.txt');
    writeFileSync(notTrace, 'just some notes\nnothing to see\n');
    const error = await rejection(importTraceFile(service, notTrace));
    expect(error.code).toBe('bad-session');
    expect(readdirSync(service.sessionsDir).filter((f) => f.startsWith('notes'))).toEqual([]);
  });
});

describe('paths that are not regular files (issue 18 §6)', () => {
  const fifo = () => {
    const path = join(dir, 'pipe.yaml');
    const r = spawnSync('mkfifo', [path]);
    return r.status === 0 ? path : undefined;
  };
  it('a named pipe or a folder given as a scenario or a trace gets one sentence, without waiting for a writer', async () => {
    const pipe = fifo();
    if (!pipe) console.log('skipped the named pipe: mkfifo failed');
    const folder = join(dir, 'a-folder.yaml');
    mkdirSync(folder);
    for (const [path, kind] of [...(pipe ? [[pipe, 'a named pipe'] as const] : []), [folder, 'a folder'] as const]) {
      expect((await rejection(startScenarioFile(service, path))).message).toBe(`${path} is ${kind}, not a scenario file; MMU Lab reads regular files only.`);
      const error = await rejection(importTraceFile(service, path));
      expect(error.message).toBe(`${path} is ${kind}, not a trace file; MMU Lab imports regular files only.`);
    }
  });
});

describe('Save As / Export', () => {
  it('writes each format to the destination given, equal to what the CLI exports', async () => {
    const started = await service.call('runs.start', { scenario: { builtin: 'demand-zap' } });
    const final = await service.waitForRun(started.runId);
    expect(final.state).toBe('finished');
    const source = service.sessionPath(final.sessionId);
    const out = join(dir, 'exports');
    mkdirSync(out);

    await exportSession(service, final.sessionId, join(out, 'copy.mmulab'));
    expect(readFileSync(join(out, 'copy.mmulab'))).toEqual(readFileSync(source));
    await exportSession(service, final.sessionId, join(out, 'run.jsonl'));
    const cli = spawnSync(process.execPath, [join(root, 'bin', 'mmu-lab.js'), 'export', source, '--format', 'jsonl'], { encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(cli.status, cli.stderr).toBe(0);
    expect(readFileSync(join(out, 'run.jsonl'), 'utf8')).toBe(cli.stdout);
    const summary = await service.call('sessions.open', { id: final.sessionId });
    expect(cli.stdout.trimEnd().split('\n')).toHaveLength(summary.events);
    await exportSession(service, final.sessionId, join(out, 'run.csv'));
    expect(readFileSync(join(out, 'run.csv'), 'utf8')).toMatch(/^# vmexit$/m);
    await exportSession(service, final.sessionId, join(out, 'run.json'));
    const chrome = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { traceEvents?: unknown[] } | unknown[];
    expect(Array.isArray(chrome) ? chrome.length : chrome.traceEvents?.length).toBeGreaterThan(0);
    // An existing file is replaced only by a complete export.
    writeFileSync(join(out, 'run.jsonl'), 'old');
    await exportSession(service, final.sessionId, join(out, 'run.jsonl'));
    expect(readFileSync(join(out, 'run.jsonl'), 'utf8').startsWith('{')).toBe(true);

    await expect(exportSession(service, final.sessionId, join(out, 'run.exe'))).rejects.toThrow(/use \.mmulab, \.jsonl, \.csv, \.json, \.html, \.pdf/);
    await expect(exportSession(service, final.sessionId, 'relative.jsonl')).rejects.toThrow(/absolute path/);
    await expect(exportSession(service, '../../etc/passwd', join(out, 'x.jsonl'))).rejects.toThrow(/not a session id/);
    const missingDir = join(out, 'no-such-dir', 'run.jsonl');
    await expect(exportSession(service, final.sessionId, missingDir)).rejects.toThrow(/could not write .*ENOENT/);
    expect(existsSync(join(out, 'no-such-dir'))).toBe(false);
    expect(readdirSync(out).sort()).toEqual(['copy.mmulab', 'run.csv', 'run.json', 'run.jsonl']); // no partial files left
  });
});
