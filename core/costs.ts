/**
 * The cost model: simulated nanoseconds per unit of work, per hardware profile.
 *
 * Every constant is one row of `COST_SPECS` with where its figure comes from; docs/engine.md
 * ("Cost model") lists the same rows with the figures quoted. A row is `sourced` (a paper, a
 * vendor manual or a published measurement gives the figure), `measured` (measured on a real
 * machine with the command stated in docs/engine.md) or an `estimate` (no public figure; the
 * engine's choice, kept in proportion with the sourced ones). No row is chosen to make a
 * simulated figure match a seed: `npm run bench -- seeds` prints how much each headline
 * figure moves when each row is halved or raised by half (bench/tornado.ts).
 *
 * Figures are in cycles of the profile's core clock unless a row says otherwise, so one
 * table serves all four parts; `costProfile` turns them into ns.
 */
import type { HardwareProfileName } from './scenario.ts';

/** The scaled cost constants (every field of `CostProfile` but its name, clock and TDP flag). */
export type CostKey =
  | 'accessNs' | 'walkRefNs' | 'exitEntryNs' | 'shadowFaultNs' | 'fastPfNs' | 'emulateNs' | 'injectNs' | 'shadowAllocNs'
  | 'lockNs' | 'ipiNs' | 'guestPfNs' | 'zeroPageNs' | 'copyPageNs' | 'forkPteNs' | 'syscallNs' | 'compilePerPageNs'
  | 'hostRmwNs' | 'hypercallNs' | 'trapBounceNs' | 'batchRequestNs' | 'validateEntryNs' | 'ipiSendNs';

export type CostProfile = {
  readonly name: HardwareProfileName;
  /** Core clock in GHz, to turn cycle figures into ns. */
  readonly ghz: number;
  /** Whether the part has a second-level MMU (EPT/NPT). */
  readonly tdp: boolean;
} & { readonly [K in CostKey]: number };

export type SourceKind = 'sourced' | 'measured' | 'estimate';

export interface CostSpec {
  /** Cycles, the same on every part, or per part. */
  readonly cycles: number | Readonly<Record<HardwareProfileName, number>>;
  readonly kind: SourceKind;
  /** What the work is, and where the figure comes from (a reference key of `SOURCES`, the figure quoted). */
  readonly basis: string;
}

/** The references the rows cite (docs/engine.md repeats them). */
export const SOURCES = {
  A: 'Agesen, Mattson, Rugina, Sheldon, "Software Techniques for Avoiding Hardware Virtualization Exits", USENIX ATC 2012 (VT-x round-trip latency by CPU generation, read off its chart)',
  B: 'Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86 Virtualization", ASPLOS 2006',
  C: 'Intel 64 and IA-32 Architectures Optimization Reference Manual (cache latencies: Core L2 ~14 cycles; Sandy/Ivy Bridge L2 12 cycles)',
  L: 'LKML, "KVM: SVM: use vmsave/vmload for saving/restoring additional host state", Dec 2020 (https://lkml.iu.edu/hypermail/linux/kernel/2012.2/00527.html): "pre-vmrun … post-vmrun: +1360" cycles on a Zen part',
  K: 'kbuild profile measured on this project\'s build host (docs/engine.md, "The kbuild profile")',
} as const;

/**
 * The kbuild profile: three compile jobs measured with
 * `/usr/bin/time -f "%U %R" gcc -O2 -c <file>` (gcc 12.2, AMD EPYC at 2.596 GHz): user seconds
 * and minor page faults of the whole job (driver, cc1, as). A job's user time per fault is
 * the compile work between two first touches of a page; the median job is used.
 */
export const KBUILD_PROFILE = {
  hostGhz: 2.596,
  jobs: [
    { file: 'zlib examples/gzlog.c', userSeconds: 0.13, minorFaults: 3790 },
    { file: 'libpng examples/pngtest.c', userSeconds: 0.15, minorFaults: 4800 },
    { file: 'wrapt _wrappers.c (Python.h)', userSeconds: 0.48, minorFaults: 9160 },
  ],
} as const;

/** Compile cycles per first-touched page of the median job of `KBUILD_PROFILE`. */
export function kbuildCyclesPerPage(): number {
  const perFault = KBUILD_PROFILE.jobs.map((j) => (j.userSeconds * KBUILD_PROFILE.hostGhz * 1e9) / j.minorFaults).sort((a, b) => a - b);
  return Math.round(perFault[perFault.length >> 1] as number);
}

const PROFILES: Readonly<Record<HardwareProfileName, { ghz: number; tdp: boolean }>> = {
  'vtx-2007': { ghz: 2.4, tdp: false }, // Core 2 (Merom), no EPT
  'ept-2012': { ghz: 3.4, tdp: true }, // Ivy Bridge, EPT
  modern: { ghz: 3.5, tdp: true }, // Ice Lake-class server core
  'npt-amd': { ghz: 3.0, tdp: true }, // Zen 2-class, NPT
};

export const COST_SPECS: Readonly<Record<CostKey, CostSpec>> = {
  accessNs: { cycles: 3, kind: 'sourced', basis: '[C] an L1 hit, ~3-4 cycles' },
  walkRefNs: { cycles: { 'vtx-2007': 14, 'ept-2012': 12, modern: 14, 'npt-amd': 12 }, kind: 'sourced', basis: '[C] one page-walk reference, an L2 hit: Core L2 ~14 cycles, Ivy Bridge 12' },
  exitEntryNs: { cycles: { 'vtx-2007': 1000, 'ept-2012': 500, modern: 400, 'npt-amd': 1360 }, kind: 'sourced', basis: '[A] VT-x round trip (exit + entry) falling from ~2,400 cycles (Prescott) to a few hundred (Sandy Bridge); Merom ~1,000, Ivy Bridge ~500, Ice Lake ~400 read off that trend; [L] SVM VMRUN → #VMEXIT 1,360 cycles' },
  shadowFaultNs: { cycles: 2500, kind: 'estimate', basis: 'the general fault handler: guest or host walk, gfn_to_pfn, building the spte (cf. [B]: shadow maintenance dominates fork/exec workloads; no per-fault figure published)' },
  fastPfNs: { cycles: 300, kind: 'estimate', basis: 'the lockless fast page fault\'s own C code: no mmu_lock, no gfn_to_pfn (seed 001); its walk and cmpxchg are charged separately' },
  emulateNs: { cycles: 2000, kind: 'estimate', basis: 'decode and emulate one store into a page table (cf. [B] "tracing" cost)' },
  injectNs: { cycles: 400, kind: 'estimate', basis: 'queue a #PF in the VM-entry interruption fields' },
  shadowAllocNs: { cycles: 1200, kind: 'estimate', basis: 'take a page from the MMU cache, hash it, clear it' },
  lockNs: { cycles: 60, kind: 'sourced', basis: '[C] an uncontended locked instruction on a line in the local cache, tens of cycles' },
  ipiNs: { cycles: 2000, kind: 'estimate', basis: 'send an IPI and the remote vCPU\'s exit for a remote TLB flush' },
  guestPfNs: { cycles: 1500, kind: 'estimate', basis: 'Linux do_page_fault without the page clear' },
  zeroPageNs: { cycles: 1000, kind: 'sourced', basis: '[C] clear 4 KiB at ~16 bytes per cycle (two 32-byte stores per cycle at best, half that sustained)' },
  copyPageNs: { cycles: 2000, kind: 'sourced', basis: '[C] read and write 4 KiB, twice the clear' },
  forkPteNs: { cycles: 40, kind: 'estimate', basis: 'copy one pte and take its page reference' },
  syscallNs: { cycles: 300, kind: 'estimate', basis: 'syscall entry and exit' },
  compilePerPageNs: { cycles: kbuildCyclesPerPage(), kind: 'measured', basis: '[K] user-mode compile work per first-touched page: median of three gcc jobs, user seconds × clock / minor faults' },
  hostRmwNs: { cycles: 6800, kind: 'estimate', basis: 'a host read-modify-write of an spte under mmu_lock (an rmap or mmu-notifier walk) from its read to its write-back' },
  hypercallNs: { cycles: 500, kind: 'estimate', basis: 'Xen PV hypercall entry and exit (a ring transition, no VMX round trip)' },
  trapBounceNs: { cycles: 700, kind: 'estimate', basis: 'Xen bouncing a trap to the PV guest kernel' },
  batchRequestNs: { cycles: 100, kind: 'estimate', basis: 'one request of a multicall batch' },
  validateEntryNs: { cycles: 30, kind: 'estimate', basis: 'Xen validating or releasing one page-table entry (type and reference counts)' },
  ipiSendNs: { cycles: 500, kind: 'estimate', basis: 'the sender\'s side of one IPI (a write to the local APIC\'s interrupt command register, as kvm_vcpu_kick does), a few hundred cycles; the receiver\'s exit is charged on its own timeline' },
};

export const COST_KEYS = Object.keys(COST_SPECS) as CostKey[];

/** A part's costs in ns, each optionally multiplied by `scale` (the tornado table's ±50%). */
export function costProfile(name: HardwareProfileName, scale: Partial<Record<CostKey, number>> = {}): CostProfile {
  const { ghz, tdp } = PROFILES[name];
  const out: Record<string, number | string | boolean> = { name, ghz, tdp };
  for (const key of COST_KEYS) {
    const spec = COST_SPECS[key];
    const cycles = typeof spec.cycles === 'number' ? spec.cycles : spec.cycles[name];
    out[key] = Math.max(1, Math.round((cycles * (scale[key] ?? 1)) / ghz));
  }
  return out as CostProfile;
}

export const HARDWARE: Readonly<Record<HardwareProfileName, CostProfile>> = {
  'vtx-2007': costProfile('vtx-2007'),
  'ept-2012': costProfile('ept-2012'),
  modern: costProfile('modern'),
  'npt-amd': costProfile('npt-amd'),
};
