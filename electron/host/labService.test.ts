// The labs.* calls through the host's one dispatcher, against the real bundled labs and a real
// sessions folder: run, answer, progress saved with the session, report; and hostile input.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiMethod, ApiResult, ResponseMessage } from '../api/contract.ts';
import { HostService } from './hostService.ts';
import { openSession } from '../../sessions/reader.ts';

let dir: string;
let service: HostService;
let seq = 1;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-labs-host-'));
  service = new HostService({ sessionsDir: join(dir, 'sessions'), host: 'browser' });
});
afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call<M extends ApiMethod>(method: M, params: unknown): Promise<ApiResult<M>> {
  const r: ResponseMessage = await service.handleRequest({ id: seq++, method, params });
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.result as ApiResult<M>;
}

describe('labs over the API', () => {
  it('lists the bundled labs and never sends reference answers', async () => {
    const labs = await call('labs.list', {});
    expect(labs.map((l) => l.name)).toContain('02-nonpae-quadrants');
    const lab = await call('labs.get', { name: '02-nonpae-quadrants' });
    expect(lab.instructions).toMatch(/^# Lab 2: non-PAE quadrants/);
    const wire = JSON.stringify(lab);
    expect(wire).not.toContain('"answer"');
    expect(wire).not.toContain('keywords');
    expect(wire).not.toContain('expect');
  });

  it('runs a lab, grades answers, saves them with the session, and reports', async () => {
    const before = await call('labs.status', { name: '02-nonpae-quadrants' });
    expect(before.recorded).toBe(false);
    expect(before.checks.every((c) => !c.passed)).toBe(true);

    const run = await call('labs.run', { name: '02-nonpae-quadrants' });
    expect(run.recorded).toBe(true);
    expect(run.checks.every((c) => c.passed)).toBe(true);
    expect(run.passed).toBe(false); // not answered yet
    const sessionId = run.sessions[0]!.sessionId;
    expect(sessionId).toBe('lab-02-nonpae-quadrants-quadrants.mmulab');
    expect((await call('sessions.list', {})).map((s) => s.id)).toContain(sessionId);

    const wrong = await call('labs.status', { name: '02-nonpae-quadrants', answers: { 'observe-pd': 2 }, student: 'Ada' });
    expect(wrong.questions.find((q) => q.id === 'observe-pd')!.correct).toBe(false);

    const answers = { 'predict-pd': 4, 'observe-pd': 4, 'observe-pt-quadrant': 1, 'observe-pde-write': 2, 'explain-two': 'a', 'explain-quadrant': 'which half (512 entries) of the guest page table' };
    const right = await call('labs.status', { name: '02-nonpae-quadrants', answers, student: 'Ada Lovelace' });
    expect(right.passed).toBe(true);
    expect(right.questions.find((q) => q.id === 'explain-two')!.explanation).toBeUndefined(); // this question has none
    // saved with the session: a fresh read (no answers given) gets them back from the file
    const again = await call('labs.status', { name: '02-nonpae-quadrants' });
    expect(again.progress).toEqual({ student: 'Ada Lovelace', answers });
    const notes = openSession(join(dir, 'sessions', sessionId)).session!.notes();
    expect(notes.filter((n) => n.noteId === 'lab-progress')).toHaveLength(1);

    // running the lab again replaces its sessions but keeps the answers
    const rerun = await call('labs.run', { name: '02-nonpae-quadrants' });
    expect(rerun.progress).toEqual({ student: 'Ada Lovelace', answers });
    expect(rerun.passed).toBe(true);

    const report = await call('labs.report', { name: '02-nonpae-quadrants', format: 'html' });
    const html = readFileSync(join(dir, 'sessions', '.exports', report.exportId), 'utf8');
    expect(html).toContain('Ada Lovelace');
    expect(html).toContain('Lab 2: non-PAE quadrants');
    expect(html).not.toContain('lab progress (v1)');
  });

  it('records in the VM workers with the auditor on: lab 5 catches the endless fault loop there too', async () => {
    const run = await call('labs.run', { name: '05-large-page-loop' });
    expect(run.checks.filter((c) => !c.passed)).toEqual([]);
  });

  it('imports a lab\'s trace', async () => {
    const run = await call('labs.run', { name: '10-real-trace-storm' });
    expect(run.checks.filter((c) => !c.passed).map((c) => c.id)).toEqual(['named-the-cause']); // needs the student's answer
  });

  it('refuses paths and unknown labs', async () => {
    await expect(call('labs.get', { name: '../sessions' })).rejects.toThrow(/bad-request: .*not a path/);
    await expect(call('labs.get', { name: 'no-such-lab' })).rejects.toThrow(/not-found: no lab "no-such-lab"/);
    await expect(call('labs.status', { name: '01-demand-fault', answers: { x: 'y' } })).rejects.toThrow(/run the lab first/);
    expect(existsSync(join(dir, 'sessions', 'lab-01-demand-fault-zap.mmulab'))).toBe(false);
  });
});

describe('labs over the API: hostile answers', () => {
  it('refuses answers keyed by anything but question ids', async () => {
    const r = await service.handleRequest(JSON.stringify({ id: 99, method: 'labs.status', params: { name: '02-nonpae-quadrants', answers: { __proto__: { polluted: 1 } } } }).replace('"answers":{}', '"answers":{"__proto__":{"polluted":1}}'));
    // the dispatcher drops or refuses the key; either way nothing is polluted or saved under it
    if (r.ok) expect(Object.keys((r.result as { progress: { answers: object } }).progress.answers)).toEqual([]);
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
    await expect(call('labs.status', { name: '02-nonpae-quadrants', answers: { 'Bad Key': 1 } })).rejects.toThrow(/bad-request: labs.status: params.answers.Bad Key: Invalid key/);
  });
});
