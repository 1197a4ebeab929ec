/**
 * The lab a student works on: the bundled labs, the open lab's instructions and questions, the
 * draft answers, and the checks as the host last evaluated them. Answers are saved with the lab's
 * session (`labs.status` with answers) when the student checks them; the student's name is asked
 * once and saved the same way.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { ApiResult, ExportResult, LabDetail, LabStatus } from '../api/contract';
import { api } from '../api/api';
import { toApiError } from '../api/client';
import { useSessionStore } from './session-store';

export type LabInfo = ApiResult<'labs.list'>[number];
export type AnswerValue = string | number;

export const useLabStore = defineStore('lab', () => {
  const panelOpen = ref(false);
  const labs = ref<LabInfo[]>([]);
  const lab = shallowRef<LabDetail>();
  const status = shallowRef<LabStatus>();
  /** The student's answers as typed (numbers stay text until sent). */
  /** Keyed by question ids from the lab file (`constructor` is a valid id): no prototype behind it. */
  const emptyDraft = (): Record<string, string> => Object.create(null) as Record<string, string>;
  const draft = ref<Record<string, string>>(emptyDraft());
  const student = ref('');
  const busy = ref<'' | 'loading' | 'running' | 'checking' | 'report'>('');
  const error = ref<string>();
  const report = shallowRef<ExportResult>();

  const checksPassed = computed(() => status.value?.checks.filter((c) => c.passed).length ?? 0);

  async function guard<T>(what: typeof busy.value, fn: () => Promise<T>): Promise<T | undefined> {
    busy.value = what;
    error.value = undefined;
    try {
      return await fn();
    } catch (e) {
      error.value = toApiError(e).message;
      return undefined;
    } finally {
      busy.value = '';
    }
  }

  function adopt(s: LabStatus): void {
    status.value = s;
    student.value = s.progress.student;
    const d = emptyDraft();
    for (const [k, v] of Object.entries(s.progress.answers)) d[k] = String(v);
    draft.value = d;
  }

  async function hydrate(): Promise<void> {
    await guard('loading', async () => {
      labs.value = await api().call('labs.list', {});
    });
  }

  async function open(name: string): Promise<void> {
    report.value = undefined;
    await guard('loading', async () => {
      const [detail, s] = await Promise.all([api().call('labs.get', { name }), api().call('labs.status', { name })]);
      lab.value = detail;
      adopt(s);
    });
  }

  function close(): void {
    lab.value = undefined;
    status.value = undefined;
    draft.value = emptyDraft();
    report.value = undefined;
  }

  /** The draft as the API takes it: numbers for number questions, trimmed text otherwise. */
  function answers(): Record<string, AnswerValue> {
    const out: Record<string, AnswerValue> = {};
    for (const q of lab.value?.questions ?? []) {
      const v = Object.hasOwn(draft.value, q.id) ? draft.value[q.id]?.trim() : undefined;
      if (!v) continue;
      out[q.id] = q.type === 'number' && /^-?[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : v;
    }
    return out;
  }

  async function run(): Promise<void> {
    const name = lab.value?.name;
    if (!name) return;
    await guard('running', async () => {
      const s = await api().call('labs.run', { name });
      status.value = s;
      // answers typed before the run are kept and saved now that the session exists
      if (Object.keys(answers()).length || student.value) status.value = await api().call('labs.status', { name, answers: answers(), student: student.value });
      const first = s.sessions[0]?.sessionId;
      if (first) await useSessionStore().open(first);
    });
  }

  /** Grade the draft, save it with the session, and re-evaluate the checks. */
  async function check(): Promise<void> {
    const name = lab.value?.name;
    if (!name) return;
    await guard('checking', async () => {
      status.value = await api().call('labs.status', { name, answers: answers(), student: student.value.trim() });
    });
  }

  async function exportReport(format: 'html' | 'pdf'): Promise<ExportResult | undefined> {
    const name = lab.value?.name;
    if (!name) return undefined;
    return guard('report', async () => {
      status.value = await api().call('labs.status', { name, answers: answers(), student: student.value.trim() });
      report.value = await api().call('labs.report', { name, format });
      return report.value;
    });
  }

  function questionResult(id: string) {
    return status.value?.questions.find((q) => q.id === id);
  }

  return { panelOpen, labs, lab, status, draft, student, busy, error, report, checksPassed, hydrate, open, close, run, check, exportReport, questionResult, answers };
});
