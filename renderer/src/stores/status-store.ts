/**
 * Problems with a file the user gave the top bar (a scenario file that does not parse), shown on
 * the status line under the top bar rather than inside it, until dismissed or the next try.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';

export const useStatusStore = defineStore('status', () => {
  const fileProblem = ref<string>();
  function dismiss(): void {
    fileProblem.value = undefined;
  }
  return { fileProblem, dismiss };
});
