/**
 * What a shadow MMU runs on. On VMX hardware (the default, `machinePlatform`) its guest's
 * exits are VM exits of the machine, the CPU walks the shadow tables directly and the
 * tables live in host memory. Under an L0 hypervisor (core/nestedshadow/: the shadow MMU
 * is an L1 hypervisor's, for its L2 guest) every exit of the guest reaches L0 first and is
 * reflected into L1, the CPU walks the tables through L0's EPT, and the tables are L1 memory:
 * L1's stores into them and its reads of the guest's tables are L1 accesses L0 may have to
 * handle. The shadow MMU's own logic is the same in both places.
 */
import type { Machine, Vcpu } from '../machine.ts';
import type { WalkResult } from '../paging.ts';

export interface ShadowPlatform {
  /** An exit of the guest for `reason` begins (at `va`, if it has one); returns its start. */
  beginExit(reason: string, va?: number): number;
  /** The exit that began at `start` was handled by the shadow MMU as `handling`. */
  endExit(start: number, reason: string, handling: string, va?: number, gpa?: number): void;
  /**
   * The CPU walked the shadow tables for `va`: `frames` are the frames of the table pages on
   * the way (root first), of which the last `refs` were read (the paging-structure caches gave
   * the rest), and `leaf` the frame the access reaches (-1 if the walk stopped or the access is
   * refused). Charge the walk and emit its `page_walk`. False if the walk met an exit of the
   * platform's own, handled there: the access is retried. Absent: a one-dimensional walk.
   */
  hardwareWalk?(cpu: Vcpu, va: number, frames: readonly number[], refs: number, leaf: number): boolean;
  /** The shadow MMU stores into its table page held in `frame`: entry `index`, or the whole page when it clears a new one. */
  storeTable?(frame: number, index?: number): void;
  /** The tables' role in events (core/tableRoles.ts) when they are not the host's own: `spt12` for an L1's. */
  readonly tableRole?: string;
  /** The shadow MMU's software walk of the guest's tables read these entries (`r.entryGpa`), setting A/D bits where due. */
  readGuestTables?(r: WalkResult): void;
}

/** Bare VMX hardware: the guest's exits are the machine's VM exits. */
export function machinePlatform(m: Machine): ShadowPlatform {
  return {
    beginExit: () => m.beginExit(),
    endExit: (start, reason, handling, va, gpa) => m.endExit(start, reason, handling, va, gpa),
  };
}
