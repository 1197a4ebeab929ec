/**
 * Opening a session file the user has (Open session…, or a `.mmulab` dropped on the window):
 * the browser host gets the file's bytes in chunks (`sessions.uploadBegin/Chunk/Finish`) and
 * keeps it in its sessions folder under the user's file name; the desktop app shows its own
 * Open dialog (`sessions.pick`). Either way the session then opens. One file at a time;
 * Cancel stops the upload and keeps nothing.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api } from '../api/api';
import { base64 } from '../api/base64';
import { toApiError } from '../api/client';
import { TRACE_CHUNK_BYTES } from '../api/contract';
import { useSessionStore } from './session-store';

export const useSessionFileStore = defineStore('session-file', () => {
  /** The upload under way: the file's name and how far it got (0..1). */
  const uploading = ref<{ fileName: string; fraction: number; uploadId?: string }>();
  const error = ref<string>();
  const busy = computed(() => uploading.value !== undefined);
  let cancelled = false;

  async function opened(id: string): Promise<void> {
    const sessions = useSessionStore();
    await sessions.refreshList();
    await sessions.open(id);
  }

  /** Upload `file` (a .mmulab) into the host's sessions folder and open it. Resolves with its session id. */
  async function openFile(file: File): Promise<string | undefined> {
    if (busy.value) return undefined;
    error.value = undefined;
    if (!/\.mmulab$/i.test(file.name)) {
      error.value = `${file.name} is not a session file (.mmulab)`;
      return undefined;
    }
    cancelled = false;
    uploading.value = { fileName: file.name, fraction: 0 };
    try {
      const begun = await api().call('sessions.uploadBegin', { fileName: file.name, sizeBytes: file.size });
      const uploadId = begun.uploadId;
      uploading.value = { fileName: file.name, fraction: 0, uploadId };
      for (let offset = 0; offset < file.size; offset += TRACE_CHUNK_BYTES) {
        if (cancelled) return undefined;
        const data = await base64(file.slice(offset, offset + TRACE_CHUNK_BYTES));
        const status = await api().call('sessions.uploadChunk', { uploadId, offset, data });
        uploading.value = { fileName: file.name, fraction: status.receivedBytes / Math.max(1, status.totalBytes), uploadId };
      }
      if (cancelled) return undefined;
      const { sessionId } = await api().call('sessions.uploadFinish', { uploadId });
      uploading.value = undefined;
      await opened(sessionId);
      return sessionId;
    } catch (e) {
      if (!cancelled) error.value = toApiError(e).message;
      return undefined;
    } finally {
      uploading.value = undefined;
    }
  }

  /** The desktop app's Open dialog; opens the chosen session. */
  async function pick(): Promise<string | undefined> {
    error.value = undefined;
    try {
      const { sessionId } = await api().call('sessions.pick', {});
      if (sessionId) await opened(sessionId);
      return sessionId ?? undefined;
    } catch (e) {
      error.value = toApiError(e).message;
      return undefined;
    }
  }

  async function cancel(): Promise<void> {
    const id = uploading.value?.uploadId;
    cancelled = true;
    uploading.value = undefined;
    if (id) await api().call('sessions.uploadCancel', { uploadId: id }).catch(() => undefined);
  }

  function dismiss(): void {
    error.value = undefined;
  }

  return { uploading, error, busy, openFile, pick, cancel, dismiss };
});
