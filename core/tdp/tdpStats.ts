/**
 * The TDP MMU's counters, one object shared by its parts (faults, tables, dirty log, zaps) so
 * each counts where the thing happens; the VM's counters view (`Tdp.counters`) and the tests read it.
 */
export function newTdpStats() {
  return {
    eptViolations: 0, eptMisconfigs: 0, fastPf: 0, slowWriteFaults: 0, spurious: 0,
    walkRefs: 0, guestWalkRefs: 0, tablesAllocated: 0, tablesFreed: 0, disconnectedSptes: 0,
    largePages: 0, dirtyLogFetches: 0, dirtyPagesFetched: 0, emulatedWrites: 0, cmpxchgLost: 0, zapAllFast: 0,
    pmlEntries: 0, pmlFull: 0, pmlKicks: 0, hugePagesSplit: 0,
  };
}

export type TdpStats = ReturnType<typeof newTdpStats>;
