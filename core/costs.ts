/**
 * The cost model: simulated nanoseconds per unit of work, per hardware profile.
 *
 * Sources (public; figures are rounded and some are read off published charts, so treat
 * them as order-of-magnitude right, not cycle-exact):
 * [A] Agesen, Mattson, Rugina, Sheldon, "Software Techniques for Avoiding Hardware
 *     Virtualization Exits", USENIX ATC 2012: VT-x round-trip (exit + entry) latency by
 *     CPU generation, roughly 2,400 cycles on Prescott falling to a few hundred on Sandy
 *     Bridge.
 * [B] Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86
 *     Virtualization", ASPLOS 2006: first-generation VT-x exit costs; shadow page-table
 *     maintenance (hidden faults, pte write traces) dominating fork/exec-heavy workloads.
 * [C] Intel 64 and IA-32 Architectures Optimization Reference Manual: cache latencies
 *     (Core: L1 3 cycles, L2 ~14 cycles; Sandy Bridge: L2 12, L3 ~30 cycles).
 * [D] VMware, "Performance Evaluation of Intel EPT Hardware Assist" (2009) and
 *     Bhargava et al., "Accelerating two-dimensional page walks for virtualized systems",
 *     ASPLOS 2008: a 2D walk takes up to 24 references; page-walk caches absorb most.
 * [E] Avi Kivity's seed-000 patch: the update-instead-of-zap change cut kbuild time by
 *     about 10% on a 2007 VT-x part, which calibrates the handler costs below.
 * [F] KVM's own exit-latency measurements in kvm-unit-tests `vmexit` (cpuid, vmcall,
 *     inl_from_pmtimer) as published on the KVM mailing list for recent Intel and AMD
 *     parts: about 1,000-1,500 cycles per round trip including KVM's handling.
 * Items marked "estimate" have no single public figure; they are the engine's choice,
 * kept in proportion with the sourced ones.
 */
import type { HardwareProfileName } from './scenario.ts';

export interface CostProfile {
  readonly name: HardwareProfileName;
  /** Core clock in GHz, to turn cycle figures into ns. */
  readonly ghz: number;
  /** Whether the part has a second-level MMU (EPT/NPT). */
  readonly tdp: boolean;
  /** A guest memory access that hits the TLB and L1. */
  readonly accessNs: number;
  /** One memory reference of a page walk (mostly L2/page-walk-cache hits). */
  readonly walkRefNs: number;
  /** VM exit plus VM entry, hardware only. */
  readonly exitEntryNs: number;
  /** Hypervisor work per exit on top of the round trip, by handling. */
  readonly shadowFaultNs: number;
  /** The lockless fast page fault's own work (seed 001): walk bookkeeping, the cmpxchg's retry check, mark_page_dirty. */
  readonly fastPfNs: number;
  readonly emulateNs: number;
  readonly injectNs: number;
  readonly shadowAllocNs: number;
  readonly lockNs: number;
  readonly ipiNs: number;
  /** Guest OS work (not virtualization overhead): the #PF handler, zeroing or copying a page, fork per pte. */
  readonly guestPfNs: number;
  readonly zeroPageNs: number;
  readonly copyPageNs: number;
  readonly forkPteNs: number;
  readonly syscallNs: number;
}

const cycles = (ghz: number, n: number): number => Math.round(n / ghz);

function profile(name: HardwareProfileName, ghz: number, tdp: boolean, roundTripCycles: number, l2Cycles: number): CostProfile {
  return {
    name,
    ghz,
    tdp,
    accessNs: 1, // [C] L1 hit, a few cycles
    walkRefNs: cycles(ghz, l2Cycles), // [C]
    exitEntryNs: cycles(ghz, roundTripCycles), // [A], [F]
    shadowFaultNs: cycles(ghz, 2500), // estimate: guest walk + shadow fetch in the 2007 KVM MMU, cf. [B]
    fastPfNs: cycles(ghz, 300), // estimate: a few hundred cycles of C on the lockless path, no mmu_lock, no gfn_to_pfn
    emulateNs: cycles(ghz, 2000), // estimate: decode + emulate one mov to a pte, cf. [B] "tracing" cost
    injectNs: cycles(ghz, 400), // estimate: queue the #PF in the VMCS entry fields
    shadowAllocNs: cycles(ghz, 1200), // estimate: take a page from the cache, hash it, clear it
    lockNs: cycles(ghz, 60), // [C] an uncontended locked cmpxchg on a shared line
    ipiNs: cycles(ghz, 2000), // estimate: IPI send + remote exit for a remote TLB flush
    guestPfNs: cycles(ghz, 1500), // estimate: Linux do_page_fault path minus the page clear
    zeroPageNs: cycles(ghz, 1000), // [C] 4 KiB at ~16 bytes/cycle
    copyPageNs: cycles(ghz, 2000), // [C] read + write 4 KiB
    forkPteNs: cycles(ghz, 40), // estimate: copy one pte and its page refcount
    syscallNs: cycles(ghz, 300), // estimate: syscall entry/exit
  };
}

/** Round trips from [A]/[F]; L2 latencies from [C]. */
export const HARDWARE: Readonly<Record<HardwareProfileName, CostProfile>> = {
  'vtx-2007': profile('vtx-2007', 2.4, false, 1000, 14), // Core 2 (Merom), no EPT
  'ept-2012': profile('ept-2012', 3.4, true, 500, 12), // Ivy Bridge, EPT
  modern: profile('modern', 3.5, true, 400, 14), // Ice Lake-class server core
  'npt-amd': profile('npt-amd', 3.0, true, 700, 12), // Zen 2-class, NPT
};
