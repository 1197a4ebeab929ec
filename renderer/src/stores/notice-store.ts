/**
 * The one `unexpectedError` path: any failure a store does not turn into its own state lands
 * here and shows as a dismissible banner with the message, never as a blank page.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { toApiError } from '../api/client';

export interface Notice {
  id: number;
  /** What the user was doing, e.g. "Opening run.mmulab". */
  context: string;
  message: string;
}

export const useNoticeStore = defineStore('notice', () => {
  const notices = ref<Notice[]>([]);
  let nextId = 1;

  function unexpectedError(context: string, error: unknown): void {
    const message = toApiError(error).message;
    console.warn(`${context}: ${message}`);
    notices.value = [...notices.value.slice(-4), { id: nextId++, context, message }];
  }

  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id);
  }

  return { notices, unexpectedError, dismiss };
});
