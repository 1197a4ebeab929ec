import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LabDetail, LabStatus } from '../api/contract';
import { installFakeApi, type FakeApi } from '../testing/fake-api';
import { useLabStore } from './lab-store';

const detail: LabDetail = {
  name: 'demo',
  title: 'Demo lab',
  summary: 's',
  mechanism: 'm',
  instructions: '# Demo',
  scenarios: [{ id: 'zap', title: 'zap' }],
  questions: [
    { id: 'n', phase: 'observe', type: 'number', prompt: 'how many?', graded: true },
    { id: 'c', phase: 'explain', type: 'choice', prompt: 'which?', graded: true, choices: [{ id: 'a', text: 'A' }, { id: 'b', text: 'B' }] },
    { id: 't', phase: 'explain', type: 'text', prompt: 'why?', graded: true },
  ],
  checks: [{ id: 'k', title: 'a check' }],
  hints: [],
};
const status = (over: Partial<LabStatus> = {}): LabStatus => ({
  name: 'demo',
  sessions: [],
  recorded: false,
  passed: false,
  checks: [{ id: 'k', title: 'a check', passed: false, value: null, error: 'run the lab first' }],
  questions: [],
  progress: { student: '', answers: {} },
  ...over,
});

let fake: FakeApi;
beforeEach(() => (fake = installFakeApi()));
afterEach(() => fake.verify());

describe('useLabStore', () => {
  it('opens a lab and restores the saved answers and name', async () => {
    fake.expect('labs.get', detail, { params: { name: 'demo' } });
    fake.expect('labs.status', status({ progress: { student: 'Ada', answers: { n: 3, c: 'b' } } }), { params: { name: 'demo' } });
    const labs = useLabStore();
    await labs.open('demo');
    expect(labs.lab?.title).toBe('Demo lab');
    expect(labs.student).toBe('Ada');
    expect(labs.draft).toEqual({ n: '3', c: 'b' });
  });

  it('sends numbers for number questions and text as typed, and leaves out blanks', async () => {
    fake.expect('labs.get', detail).expect('labs.status', status());
    const labs = useLabStore();
    await labs.open('demo');
    labs.draft = { n: ' 2.5 ', c: 'a', t: '  ' };
    labs.student = 'Ada ';
    fake.expect('labs.status', status({ recorded: true, passed: true }), { params: { name: 'demo', answers: { n: 2.5, c: 'a' }, student: 'Ada' } });
    await labs.check();
    expect(labs.status?.passed).toBe(true);
    expect(labs.error).toBeUndefined();
  });

  it('a question id named like a prototype property starts blank and is sent only when answered', async () => {
    const proto: LabDetail = { ...detail, questions: [{ id: 'constructor', phase: 'observe', type: 'text', prompt: 'name it', graded: true }] };
    fake.expect('labs.get', proto).expect('labs.status', status());
    const labs = useLabStore();
    await labs.open('demo');
    expect(labs.draft['constructor']).toBeUndefined();
    expect(labs.answers()).toEqual({});
    labs.draft['constructor'] = ' kvm ';
    expect(labs.answers()).toEqual({ constructor: 'kvm' });
  });

  it('shows a failed call as one message and keeps the draft', async () => {
    fake.expect('labs.get', detail).expect('labs.status', status());
    const labs = useLabStore();
    await labs.open('demo');
    labs.draft = { n: '1' };
    fake.fail('labs.status', 'failed', 'run the lab first: progress is saved with its session');
    await labs.check();
    expect(labs.error).toBe('run the lab first: progress is saved with its session');
    expect(labs.draft).toEqual({ n: '1' });
    expect(labs.busy).toBe('');
  });
});
