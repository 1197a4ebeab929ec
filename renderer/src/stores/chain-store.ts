/**
 * The causal chain of the current event (../inspector/causal-chain.ts), read once for every view
 * that shows it: the details panel lists its steps, the timeline draws them as flow arrows.
 */
import { defineStore } from 'pinia';
import { shallowRef, watch } from 'vue';
import { causalChain, type ChainStep } from '../inspector/causal-chain';
import { useCursorStore } from './cursor-store';
import { useSessionStore } from './session-store';

/** Events read each side of the current one to find its chain. */
const CHAIN_SPAN = 300;

export const useChainStore = defineStore('chain', () => {
  const cursor = useCursorStore();
  const sessions = useSessionStore();
  const steps = shallowRef<ChainStep[]>([]);
  let seq = 0;
  watch(
    () => [cursor.index, sessions.current] as const,
    async ([index]) => {
      const mine = ++seq;
      if (index < 0 || !sessions.current) {
        steps.value = [];
        return;
      }
      try {
        const from = Math.max(0, index - CHAIN_SPAN);
        const got = await sessions.eventsFrom(from, 2 * CHAIN_SPAN);
        if (mine === seq) steps.value = causalChain(got.events, from, index);
      } catch {
        if (mine === seq) steps.value = [];
      }
    },
    { immediate: true },
  );
  return { steps };
});
