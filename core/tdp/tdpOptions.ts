/**
 * The switches of one TDP MMU: the scenario's `mmu.tdp.*` and the fast-page-fault `bugs.*`
 * (core/tdp/mmu.ts builds them from the VM's config), read by every part of the mechanism.
 */
export interface TdpOptions {
  fastPageFault: boolean;
  /** Dirty logging by EPT D bits and the page-modification log (PML) instead of write protection. */
  pml?: boolean;
  /** Split 2 MiB leaves when dirty logging starts instead of dropping them. */
  eagerSplit?: boolean;
  tdpMmu: boolean;
  largePages: boolean;
  walkCaches: boolean;
  bugs: { aba: boolean; lostDirty: boolean; missedFlush: boolean; flushOverwrite: boolean };
}
