/**
 * Built-in scenarios: one per mechanism the lab shows (DESIGN.md table), listed by
 * `mmu-lab scenarios`. Each is a plain scenario input, parsed like any user file.
 */
import type { ScenarioInput } from './scenario.ts';

export interface BuiltinScenario {
  name: string;
  title: string;
  description: string;
  scenario: ScenarioInput;
}

type VmInput = ScenarioInput['vms'][number];
type GuestInput = VmInput['guest'];
type Steps = Extract<GuestInput['workload'], { kind: 'script' }>['steps'];

function vm(workload: GuestInput['workload'], extra: Partial<VmInput> = {}, guest: Partial<GuestInput> = {}): VmInput {
  return { vcpus: 1, memoryMiB: 64, guest: { paging: 'long4', ...guest, workload }, mmu: { mode: 'shadow' }, ...extra };
}

function builtin(name: string, title: string, description: string, vms: VmInput[], profile: ScenarioInput['hardware'] = { profile: 'vtx-2007' }): BuiltinScenario {
  return { name, title, description, scenario: { name, description, seed: 1, hardware: profile, vms } };
}

const onWrite = (mode: 'zap' | 'update') => ({ mode: 'shadow' as const, shadow: { onGuestPteWrite: mode } });

const user = ['P', 'W', 'U'] as ('P' | 'W' | 'U')[];

const SCRIPT_BASIC: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', size: '4k', levels: { pt: ['P', 'W', 'U'] } },
  { op: 'access', va: '0x400123', access: 'read', cpl: 3 },
  { op: 'access', va: '0x400123', access: 'write', cpl: 3 },
  { op: 'access', va: '0x800000', access: 'read', cpl: 3 },
  { op: 'map', va: '0x401000', gpa: '0x201000', size: '4k', levels: { pt: ['P', 'U'] } },
  { op: 'access', va: '0x401000', access: 'write', cpl: 3 },
  { op: 'access', va: '0x401000', access: 'read', cpl: 0 },
];

const PERMISSION_REDUCTION: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: user } },
  { op: 'access', va: '0x400000', access: 'write', cpl: 3 },
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'U', 'A', 'D'] } },
  { op: 'invlpg', va: '0x400000' },
  { op: 'access', va: '0x400000', access: 'write', cpl: 3 },
];

/** Two 2 MiB mappings of the same frames, one read-only and one writable (seed 000's Xen PAE case). */
const LARGE_PAGE_ALIASES: Steps = [
  { op: 'map', va: '0x40000000', gpa: '0x1000000', size: '2m', levels: { pd: ['P', 'U'] } },
  { op: 'map', va: '0x40200000', gpa: '0x1000000', size: '2m', levels: { pd: ['P', 'W', 'U'] } },
  { op: 'access', va: '0x40000000', access: 'read', cpl: 3 },
  { op: 'access', va: '0x40200000', access: 'write', cpl: 3 },
];

const INVALID_PDPTE: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pdpt: ['P'], pt: user } },
  { op: 'map', va: '0x40000000', gpa: '0x300000', levels: { pdpt: [], pt: user } },
  { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
  { op: 'access', va: '0x40000000', access: 'read', cpl: 3 },
];

const QUADRANTS: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: user } },
  { op: 'map', va: '0x600000', gpa: '0x201000', levels: { pt: user } },
  { op: 'map', va: '0xc0000000', gpa: '0x202000', levels: { pt: user } },
  { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
  { op: 'access', va: '0x600000', access: 'read', cpl: 3 },
  { op: 'access', va: '0xc0000000', access: 'read', cpl: 3 },
  { op: 'map', va: '0x600000', gpa: '0x203000', levels: { pt: ['P', 'W', 'U', 'A'] } },
  { op: 'access', va: '0x600000', access: 'read', cpl: 3 },
];

/** CR0.WP = 0 and SMEP: the kernel writes a read-only user page, then must not execute it. */
const SMEP_WP0: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'U'] } },
  { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
  { op: 'access', va: '0x400000', access: 'fetch', cpl: 0 },
  { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
];

/**
 * Xen PV: the allocator hands out frames lowest first above the first MiB, so process 0's
 * tables are 0x100000 (pml4), 0x101000 (pdpt), 0x102000 (pd), 0x103000 (pt). Mapping the pt
 * writable is refused; read-only is allowed.
 */
const XEN_REJECT: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: user } },
  { op: 'map', va: '0x401000', gpa: '0x103000', levels: { pt: user } },
  { op: 'access', va: '0x401000', access: 'write', cpl: 3 },
  { op: 'map', va: '0x401000', gpa: '0x103000', levels: { pt: ['P', 'U'] } },
  { op: 'access', va: '0x401000', access: 'read', cpl: 3 },
];

const xen = (pinning: boolean, batching: boolean) => ({ mode: 'xenpv' as const, xenpv: { pinning, batching, batchSize: 32 } });

/** The kernel writes 32 more ptes of a pt that is already shadowed (say, mprotect of a 128 KiB range), reloads CR3, then uses 4 of the pages. */
const POPULATE: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: {} },
  { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
  ...Array.from({ length: 32 }, (_, i): Steps[number] => ({ op: 'map', va: 0x401000 + i * 0x1000, gpa: 0x201000 + i * 0x1000, levels: { pml4: ['P', 'W', 'U', 'A'], pdpt: ['P', 'W', 'U', 'A'], pd: ['P', 'W', 'U', 'A'], pt: ['P', 'W', 'U', 'A', 'D'] } })),
  { op: 'cr3', process: 0 },
  ...Array.from({ length: 4 }, (_, i): Steps[number] => ({ op: 'access', va: 0x401000 + i * 0x8000, access: 'write', cpl: 3 })),
];

/** CR0.WP turned off and on again at run time (issue 15 §4): each value is its own MMU role. */
const WP_ROLES: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'U'] } },
  { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
  { op: 'setControls', cr0: { wp: false } },
  { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
  { op: 'setControls', cr0: { wp: true } },
  { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
];

/** Partial and misaligned stores into a shadowed pt (issue 15 §4); the pt of 0x400000 is at 0x103000. */
const PTE_STORES: Steps = [
  { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'W', 'U'] } },
  { op: 'map', va: '0x401000', gpa: '0x201000', levels: { pt: ['P', 'W', 'U'] } },
  { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
  { op: 'access', va: '0x401000', access: 'read', cpl: 3 },
  { op: 'pteWrite', gpa: '0x10300c', bytes: 4, value: '0x80000000' }, // XD in the high half of 0x401000's pte
  { op: 'invlpg', va: '0x401000' },
  { op: 'access', va: '0x401000', access: 'fetch', cpl: 3 },
  { op: 'pteWrite', gpa: '0x103004', bytes: 8, value: 0 }, // across two ptes: clears the low half (P) of 0x401000's
  { op: 'invlpg', va: '0x401000' },
  { op: 'access', va: '0x401000', access: 'read', cpl: 3 },
  { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
];

/** Seed 001's dirty-logging benchmark: 2 MiB written page by page, the log fetched after every pass. */
const DIRTY_LOG: GuestInput['workload'] = { kind: 'dirty-log', pages: 512, iterations: 10 };
/** The dirty-log benchmark, small, for the three logging methods side by side. */
const THREE_WAYS: GuestInput['workload'] = { kind: 'dirty-log', pages: 256, iterations: 4 };
/** The dirty-log benchmark on memory mapped with 2 MiB EPT pages, for eager vs lazy splitting. */
const SPLIT: GuestInput['workload'] = { kind: 'dirty-log', pages: 512, iterations: 3 };
/** A small two-vCPU dirty-logging run for the race switches of seed 001. */
const RACE: GuestInput['workload'] = { kind: 'dirty-log', pages: 64, iterations: 4 };
const FAST_TDP = { mode: 'tdp' as const, tdp: { fastPageFault: true } };

export const BUILTIN_SCENARIOS: ReadonlyArray<BuiltinScenario> = [
  builtin('demand-zap', 'Demand paging, zap on pte write', 'A 4-level guest demand-faults 64 pages; the shadow MMU clears the shadow pte on each emulated guest pte write: 3 exits per fault.', [vm({ kind: 'demand-paging', pages: 64 }, { mmu: onWrite('zap') })]),
  builtin('demand-update', 'Demand paging, update on pte write', 'The same guest; the shadow MMU writes the new value into the shadow pte: 2 exits per fault (seed 000).', [vm({ kind: 'demand-paging', pages: 64 }, { mmu: onWrite('update') })]),
  builtin('cow-zap', 'Copy-on-write faults, zap', 'fork then write every page: each COW fault costs 3 exits with zap.', [vm({ kind: 'fork-cow', pages: 32, processes: 2 }, { mmu: onWrite('zap') })]),
  builtin('cow-update', 'Copy-on-write faults, update', 'The same with update: 2 exits per COW fault.', [vm({ kind: 'fork-cow', pages: 32, processes: 2 }, { mmu: onWrite('update') })]),
  builtin('kbuild-zap', 'kbuild-like mix, zap', 'Many short processes fork, exec, touch memory and exit, on the 2007 VT-x profile with zap.', [vm({ kind: 'kbuild', processes: 40, pages: 24 }, { mmu: onWrite('zap') })]),
  builtin('kbuild-update', 'kbuild-like mix, update', 'The same with update: fewer exits, less simulated time (seed 000 saw ~10%).', [vm({ kind: 'kbuild', processes: 40, pages: 24 }, { mmu: onWrite('update') })]),
  builtin('script-basic', 'A scripted guest', 'Map, access, fault: each scripted access and its architectural outcome.', [vm({ kind: 'script', steps: SCRIPT_BASIC })]),
  builtin('multi-vcpu', 'Four vCPUs demand-faulting', 'Four vCPUs of one process fault in parallel; faults serialize on the mmu_lock (lock_wait events).', [vm({ kind: 'demand-paging', pages: 32 }, { vcpus: 4 })]),
  builtin('fork-flood', 'Write-flood detection on fork', 'fork write-protects the parent\'s ptes; after the flood threshold the shadow page is zapped and the writes run natively.', [vm({ kind: 'fork-cow', pages: 128, processes: 2 })]),
  builtin('cache-recycle', 'Shadow page cache under pressure', 'A 16-page shadow cache: pages are recycled oldest first, roots never.', [vm({ kind: 'context-switch', processes: 6, pages: 8, iterations: 30 }, { mmu: { mode: 'shadow', shadow: { cachePages: 16 } } })]),
  builtin('nonpae-quadrants', 'Non-PAE guest on PAE shadow tables', 'A 32-bit guest: each guest pt is shadowed by two PAE pts (quadrants), each guest pd by four.', [vm({ kind: 'script', steps: QUADRANTS }, {}, { paging: 'nonpae' })]),
  builtin('large-page-access', 'Large pages keyed by access', 'Two 2 MiB mappings of the same frames with different rights get different shadow pages.', [vm({ kind: 'script', steps: LARGE_PAGE_ALIASES })]),
  builtin('large-page-loop-bug', 'The endless fault loop (bug on)', 'With bugs.largePageAccessKey the shadow page of the read-only alias is reused for the writable one: the write faults forever; the engine detects it.', [vm({ kind: 'script', steps: LARGE_PAGE_ALIASES }, { bugs: { largePageAccessKey: true } })]),
  builtin('tlb-flush-on-reduce', 'TLB flush on permission reduction', 'The guest makes a writable page read-only; the shadow pte loses W and every TLB is flushed.', [vm({ kind: 'script', steps: PERMISSION_REDUCTION }, { mmu: onWrite('update') })]),
  builtin('pae-invalid-pdpte', 'PAE PDPTE valid bit', 'A PAE guest makes one of its four PDPTEs invalid and reloads CR3: it is never followed; the access faults.', [vm({ kind: 'script', steps: INVALID_PDPTE }, {}, { paging: 'pae' })]),
  builtin('smep-wp0', 'CR0.WP = 0 with SMEP', 'A supervisor write to a read-only user page is allowed with WP = 0; the shadow pte made for it is supervisor-only and NX, so SMEP still stops the kernel executing the page.', [vm({ kind: 'script', steps: SMEP_WP0 }, {}, { cr0: { wp: false }, cr4: { pse: true, smep: true, smap: false } })]),
  builtin('context-switch', 'Context switches', 'Four processes switch round-robin: each CR3 load exits under shadow paging.', [vm({ kind: 'context-switch', processes: 4, pages: 16, iterations: 100 })]),
  builtin('xenpv-fork-cow', 'Xen PV fork, pinned and batched', 'fork-cow on Xen PV direct paging: the parent\'s pte updates during fork go to Xen 32 per multicall; pinned tables need no revalidation on CR3 loads (seed 003).', [vm({ kind: 'fork-cow', pages: 64, processes: 4 }, { mmu: xen(true, true) })]),
  builtin('xenpv-fork-cow-naive', 'Xen PV fork, no pinning, no batching', 'The same guest with one hypercall per pte update and the whole tree validated again on every CR3 load.', [vm({ kind: 'fork-cow', pages: 64, processes: 4 }, { mmu: xen(false, false) })]),
  builtin('xenpv-reject', 'Xen PV refuses a writable page table', 'The guest tries to map its own page table writable: Xen\'s validation refuses the update (the access then faults); a read-only mapping of it is allowed.', [vm({ kind: 'script', steps: XEN_REJECT }, { mmu: { mode: 'xenpv' } })]),
  builtin('mmio-generation', 'MMIO sptes with a generation number', 'A driver polls a device register page 100 times; after the first access each one goes straight to the emulator through the cached MMIO spte. Every 25 accesses the host changes its memslots: the generation moves on and the next access takes the slow path again (mmu.rst).', [vm({ kind: 'mmio', iterations: 100, memslotEvery: 25 })]),
  builtin('mmio-generation-tdp', 'MMIO under EPT: EPT_MISCONFIG', 'The same driver under EPT: the first access is an EPT violation, the repeats EPT misconfigurations handled without a walk; memslot changes make the next one slow.', [vm({ kind: 'mmio', iterations: 100, memslotEvery: 25 }, { mmu: { mode: 'tdp' } })], { profile: 'ept-2012' }),
  builtin('populate-wp', 'Populating a pt, write-protected', 'The kernel writes 32 ptes of a shadowed pt (write-flood detection off) and then uses 4 of the pages: each pte store is an emulated write, 32 exits.', [vm({ kind: 'script', steps: POPULATE }, { mmu: { mode: 'shadow', shadow: { floodThreshold: 65536 } } })]),
  builtin('unsync-populate', 'Populating a pt, unsync shadow pages', 'The same with mmu.shadow.unsync: the first store lets the shadow pt go out of sync, the other 31 run natively; the CR3 write resyncs it and write-protects it again, and the 4 pages used fault once each to fill their spte (mmu.rst).', [vm({ kind: 'script', steps: POPULATE }, { mmu: { mode: 'shadow', shadow: { floodThreshold: 65536, unsync: true } } })]),
  builtin('nested-tdp', 'Nested TDP: an L2 guest on L1\'s EPT', 'The demand faults of an L2 guest whose L1 hypervisor uses EPT, shadowed by L0 (EPT02 from EPT12 and EPT01): the first touch of each frame is four exits to L0 — reflect to L1, L1\'s trapped store into its write-protected EPT12, L1\'s VMRESUME, the shadow-EPT fill — plus L1\'s first touches of the EPT12 tables it allocates, and L2\'s own #PFs and CR3 loads none (mmu.rst).', [vm({ kind: 'demand-paging', pages: 32 }, { mmu: { mode: 'tdp', nested: { enabled: true } } })], { profile: 'ept-2012' }),
  builtin('nested-shadow', 'Nested shadow-on-EPT: an L2 guest on L1\'s shadow pages', 'The nested-tdp guest again, but its L1 hypervisor runs it on shadow page tables (SPT12, in L1 memory) that the CPU walks through L0\'s EPT01: every exit L1 takes for L2 — the injected #PF, the trapped pte store, the fill, the CR3 load — is an exit to L0 reflected into L1 and L1\'s VMRESUME, two exits to L0 each, plus L0 mapping each L1 frame the first time it is touched (Turtles, OSDI 2010).', [vm({ kind: 'demand-paging', pages: 32 }, { mmu: { mode: 'tdp', nested: { enabled: true, l1Mmu: 'shadow' } } })], { profile: 'ept-2012' }),
  builtin('nested-shadow-on-shadow', 'Nested shadow-on-shadow: L0 without EPT shadows L1\'s shadow pages', 'The same L2 guest on a part without EPT (mmu.rst: nested non-tdp, ngva->gpa->hpa): L0 shadows L1\'s SPT12 into SPT02 and write-protects it, so besides the reflected exits and L1\'s VMRESUMEs, every store L1 makes into an SPT12 page L0 shadows traps, and L0 fills SPT02 after L1 filled SPT12: six exits to L0 per demand-faulted page.', [vm({ kind: 'demand-paging', pages: 32 }, { mmu: { mode: 'shadow', nested: { enabled: true, l1Mmu: 'shadow' } } })]),
  builtin('nested-shadow-vs-tdp', 'Nested: L1 with shadow paging vs L1 with EPT', 'Why nested EPT exists: one kbuild-like L2 guest, twice. VM 0\'s L1 runs it on shadow pages (shadow-on-EPT): L2\'s #PFs, page-table stores, forks and CR3 loads all exit to L0 and are reflected to L1. VM 1\'s L1 gives it an EPT (nested TDP): L2 handles those itself and L0 sees only the first touch of each frame.', [vm({ kind: 'kbuild', processes: 8, pages: 16 }, { mmu: { mode: 'tdp', nested: { enabled: true, l1Mmu: 'shadow' } } }), vm({ kind: 'kbuild', processes: 8, pages: 16 }, { mmu: { mode: 'tdp', nested: { enabled: true } } })], { profile: 'ept-2012' }),
  builtin('tdp-demand', 'Demand paging under EPT', 'The same demand faults on a 2012 part with EPT: no exit on a guest #PF, one EPT violation per first touch.', [vm({ kind: 'demand-paging', pages: 64 }, { mmu: { mode: 'tdp' } })], { profile: 'ept-2012' }),
  builtin('tdp-kbuild', 'kbuild-like mix under EPT', 'The kbuild mix on a 2012 part with EPT: no exits for guest faults, page-table writes or CR3 loads; TLB misses pay the 2D walk instead (page_walk events).', [vm({ kind: 'kbuild', processes: 40, pages: 24 }, { mmu: { mode: 'tdp' } })], { profile: 'ept-2012' }),
  builtin('tdp-context-switch', 'Context switches under EPT', 'Four processes switch round-robin under EPT: a CR3 load does not exit; the TLB refills with 2D walks.', [vm({ kind: 'context-switch', processes: 4, pages: 16, iterations: 100 }, { mmu: { mode: 'tdp' } })], { profile: 'ept-2012' }),
  builtin('npt-demand', 'Demand paging under AMD NPT', 'The same demand faults on an AMD part: nested page faults are named npf, as KVM prints them for SVM.', [vm({ kind: 'demand-paging', pages: 64 }, { mmu: { mode: 'tdp', tdp: { largePages: false } } })], { profile: 'npt-amd' }),
  builtin('dirty-log-slow', 'Dirty logging, fast page fault off', 'Seed 001\'s benchmark: the guest keeps writing 512 pages while the host fetches and clears the dirty log after every pass; each write fault on a write-protected spte takes mmu_lock and the full fault path.', [vm(DIRTY_LOG, { mmu: { mode: 'tdp', tdp: { fastPageFault: false } } })], { profile: 'ept-2012' }),
  builtin('dirty-log-fast', 'Dirty logging, fast page fault on', 'The same benchmark with mmu.tdp.fastPageFault: the write faults are fixed by a compare-and-exchange without mmu_lock (seed 001: 532 ms → 196 ms).', [vm(DIRTY_LOG, { mmu: { mode: 'tdp', tdp: { fastPageFault: true } } })], { profile: 'ept-2012' }),
  builtin('dirty-log-three-ways', 'Dirty logging three ways: write protection, fast page fault, PML', 'One guest, three VMs side by side: VM 0 logs dirty pages by write protection (every logged write faults and takes mmu_lock), VM 1 by write protection with the lockless fast page fault, VM 2 by EPT dirty bits and the page-modification log (no write faults; an exit only when the 512-entry log is full).', [vm(THREE_WAYS, { mmu: { mode: 'tdp', tdp: { largePages: false } } }), vm(THREE_WAYS, { mmu: { mode: 'tdp', tdp: { largePages: false, fastPageFault: true } } }), vm(THREE_WAYS, { mmu: { mode: 'tdp', tdp: { largePages: false, pml: true } } })], { profile: 'ept-2012' }),
  builtin('huge-page-split-lazy', 'Dirty logging on 2 MiB pages: lazy split', 'Guest memory mapped with 2 MiB EPT pages; when dirty logging starts the large leaves are dropped and every page is refaulted as 4 KiB on its first logged write (map-gfn, the locked path).', [vm(SPLIT, { mmu: { mode: 'tdp', tdp: { largePages: true, fastPageFault: true } } })], { profile: 'ept-2012' }),
  builtin('huge-page-split-eager', 'Dirty logging on 2 MiB pages: eager split', 'The same with mmu.tdp.eagerSplit: each 2 MiB leaf is split into 512 write-protected 4 KiB sptes when logging starts (inside the enable, under mmu_lock), so the logged writes take the lockless fast page fault from the first pass.', [vm(SPLIT, { mmu: { mode: 'tdp', tdp: { largePages: true, fastPageFault: true, eagerSplit: true } } })], { profile: 'ept-2012' }),
  builtin('dirty-log-shared', 'Two vCPUs dirtying the same pages', 'Both vCPUs write the same pages during dirty logging: a vCPU whose walk saw a read-only spte that the other vCPU has just fixed takes a spurious fault (counted).', [vm({ kind: 'dirty-log', pages: 64, iterations: 6, shared: true }, { vcpus: 2, mmu: { mode: 'tdp', tdp: { fastPageFault: true } } })], { profile: 'ept-2012' }),
  builtin('race-fast-pf-aba', 'Race: ABA on the spte (bug on)', 'bugs.fastPfAba: while vCPU 1\'s lockless fix sits between its read and its compare-and-exchange, the host migrates the page; the freed EPT table is reused at once for another range whose entry holds the very value read, so the exchange succeeds there and the wrong gfn is logged (auditor: dirty-bitmap). The TDP MMU frees tables only after a grace period.', [vm(RACE, { vcpus: 2, mmu: FAST_TDP, bugs: { fastPfAba: true } })], { profile: 'ept-2012' }),
  builtin('race-fast-pf-lost-dirty', 'Race: lost dirty bit (bug on)', 'bugs.fastPfLostDirty: the host unmaps a page with a plain store because the spte looked read-only; a lockless fast page fault and the guest\'s write slip in between and the dirty bit is lost (auditor: lost-dirty).', [vm(RACE, { vcpus: 2, mmu: FAST_TDP, bugs: { fastPfLostDirty: true } })], { profile: 'ept-2012' }),
  builtin('race-fast-pf-missed-flush', 'Race: missed TLB flush (bug on)', 'bugs.fastPfMissedFlush: the host write-protects a page and decides on the flush from a stale read; the fast page fault made it writable meanwhile and a writable TLB entry survives (auditor: stale-tlb).', [vm(RACE, { vcpus: 2, mmu: FAST_TDP, bugs: { fastPfMissedFlush: true } })], { profile: 'ept-2012' }),
  builtin('race-fast-pf-flush-overwrite', 'Race: *flush overwritten (bug on)', 'bugs.fastPfFlushOverwrite: fetching the dirty log assigns the flush flag per page instead of accumulating it; the last page (the steal-time record, never mapped) says no flush and writable TLB entries survive (auditor: stale-tlb).', [vm(RACE, { vcpus: 2, mmu: FAST_TDP, bugs: { fastPfFlushOverwrite: true } })], { profile: 'ept-2012' }),
  builtin('tdp-mmu-parallel', 'TDP MMU: eight vCPUs faulting in parallel', 'Eight vCPUs demand-fault under the TDP MMU: faults take mmu_lock shared and change sptes atomically, so nobody waits (seed 002).', [vm({ kind: 'demand-paging', pages: 64 }, { vcpus: 8, memoryMiB: 256, mmu: { mode: 'tdp', tdp: { tdpMmu: true, largePages: false } } })], { profile: 'ept-2012' }),
  builtin('tdp-legacy-mmu-lock', 'Legacy TDP: eight vCPUs on one mmu_lock', 'The same eight vCPUs with mmu.tdp.tdpMmu off: every EPT violation takes mmu_lock exclusively and the vCPUs queue (lock_wait).', [vm({ kind: 'demand-paging', pages: 64 }, { vcpus: 8, memoryMiB: 256, mmu: { mode: 'tdp', tdp: { tdpMmu: false, largePages: false } } })], { profile: 'ept-2012' }),
  builtin('wp-role-change', 'CR0.WP changed at run time', 'The kernel writes a read-only user page with CR0.WP = 1 (#PF), 0 (allowed: a writable supervisor-only spte) and 1 again (#PF): each WP value is its own MMU role with its own shadow pages, so the spte made for WP = 0 is never used under WP = 1.', [vm({ kind: 'script', steps: WP_ROLES })]),
  builtin('pte-partial-writes', 'Partial and misaligned pte stores', 'A 4-byte store to the high half of a pte (sets XD: emulated and applied, not misaligned) and an 8-byte store across two ptes (misaligned: the shadow pt is zapped), as KVM\'s detect_write_misaligned decides.', [vm({ kind: 'script', steps: PTE_STORES }, { mmu: onWrite('update') })]),
  builtin('kbuild-pae', 'kbuild-like mix on a PAE guest', 'kbuild-update on a PAE guest: the OS preallocates its four page directories as Linux PAE does, so it does the same work as the 4-level guest, with TLB hits.', [vm({ kind: 'kbuild', processes: 40, pages: 24 }, { mmu: onWrite('update') }, { paging: 'pae' })]),
];

export function findBuiltin(name: string): BuiltinScenario | undefined {
  return BUILTIN_SCENARIOS.find((b) => b.name === name);
}
