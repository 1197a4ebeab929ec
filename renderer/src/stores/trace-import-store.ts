/**
 * Importing a real KVM trace (trace-cmd report, ftrace or perf script text) from a file the
 * user picked or dropped: the file is uploaded to the host in chunks (`traces.begin`,
 * `traces.upload`), imported there (`traces.import`, progress as `traces.progress` events),
 * and the new session is opened. One import at a time from this window; Cancel stops the
 * upload or the import and keeps nothing.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api } from '../api/api';
import { base64 } from '../api/base64';
import { toApiError } from '../api/client';
import { TRACE_CHUNK_BYTES, type TraceImportStatus } from '../api/contract';
import { useSessionStore } from './session-store';

export const useTraceImportStore = defineStore('trace-import', () => {
  const status = ref<TraceImportStatus>();
  /** Why the last import did not give a session (one line), until dismissed or the next import. */
  const error = ref<string>();
  /** What the last finished import said (what it imported and skipped). */
  const lastMessage = ref<string>();
  const busy = computed(() => status.value?.state === 'uploading' || status.value?.state === 'importing');
  let cancelled = false;
  let unsubscribe: (() => void) | undefined;
  let finished: ((s: TraceImportStatus) => void) | undefined;

  function onProgress(s: TraceImportStatus): void {
    if (s.importId !== status.value?.importId) return;
    status.value = s;
    if (s.state === 'done' || s.state === 'failed' || s.state === 'cancelled') finished?.(s);
  }

  function hydrate(): void {
    unsubscribe ??= api().on('traces.progress', onProgress);
  }

  function dehydrate(): void {
    unsubscribe?.();
    unsubscribe = undefined;
  }

  /** Upload, import and open `file`. Resolves with the new session id, or undefined (failed, cancelled). */
  async function importFile(file: File): Promise<string | undefined> {
    if (busy.value) return undefined;
    hydrate();
    error.value = undefined;
    lastMessage.value = undefined;
    cancelled = false;
    try {
      status.value = await api().call('traces.begin', { fileName: file.name, sizeBytes: file.size });
      const importId = status.value.importId;
      for (let offset = 0; offset < file.size; offset += TRACE_CHUNK_BYTES) {
        if (cancelled) return undefined;
        const data = await base64(file.slice(offset, offset + TRACE_CHUNK_BYTES));
        status.value = await api().call('traces.upload', { importId, offset, data });
      }
      if (cancelled) return undefined;
      const end = new Promise<TraceImportStatus>((resolve) => (finished = resolve));
      status.value = await api().call('traces.import', { importId });
      const last = await end;
      finished = undefined;
      if (last.state !== 'done' || !last.sessionId) {
        if (last.state === 'failed') error.value = last.message ?? `${file.name} could not be imported`;
        return undefined;
      }
      lastMessage.value = last.message;
      const sessions = useSessionStore();
      await sessions.refreshList();
      await sessions.open(last.sessionId);
      return last.sessionId;
    } catch (e) {
      if (!cancelled) error.value = toApiError(e).message;
      if (status.value && (status.value.state === 'uploading' || status.value.state === 'importing')) status.value = { ...status.value, state: 'failed' };
      return undefined;
    }
  }

  async function cancel(): Promise<void> {
    const s = status.value;
    if (!s || !busy.value) return;
    cancelled = true;
    try {
      status.value = await api().call('traces.cancel', { importId: s.importId });
    } catch (e) {
      error.value = toApiError(e).message;
    }
  }

  function dismiss(): void {
    error.value = undefined;
    lastMessage.value = undefined;
  }

  return { status, error, lastMessage, busy, hydrate, dehydrate, importFile, cancel, dismiss };
});
