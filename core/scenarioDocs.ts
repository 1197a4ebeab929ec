/**
 * What each scenario field means, for people: a title and a line of help per field path, and the
 * MMU design a scenario shows. The UI's options form takes its labels and help from the scenario
 * JSON Schema, which the host annotates with this table (`describeScenarioSchema`); the scenario
 * picker groups scenarios by `scenarioDesign`. The wording follows docs/scenarios.md.
 *
 * Paths are dotted, `[]` for the items of a list; a workload's parameters are under
 * `vms[].guest.workload` whatever its kind. Pure data and pure functions.
 */
import type { ScenarioInput } from './scenario.ts';

export interface FieldDoc {
  title: string;
  description?: string;
}

export const SCENARIO_FIELD_DOCS: Readonly<Record<string, FieldDoc>> = {
  name: { title: 'Name', description: 'Names the run and its session file (1-200 characters).' },
  description: { title: 'Description', description: 'What the scenario shows, in a sentence or two.' },
  seed: { title: 'Seed', description: 'Drives every randomized choice: the same seed gives the same run (0 … 2^32−1).' },
  hardware: { title: 'Hardware' },
  'hardware.profile': { title: 'CPU profile', description: 'Whose costs the run uses: vtx-2007 (no EPT), ept-2012, modern, npt-amd (docs/engine.md).' },
  vms: { title: 'VMs', description: '1 to 16 guests, each on its own MMU.' },
  'vms[]': { title: 'VM' },
  'vms[].vcpus': { title: 'vCPUs', description: 'Virtual CPUs of this VM (1-64).' },
  'vms[].memoryMiB': { title: 'Memory (MiB)', description: 'Guest RAM, 1-65536 MiB; the first MiB is the guest kernel’s.' },
  'vms[].guest': { title: 'Guest' },
  'vms[].guest.paging': { title: 'Paging mode', description: 'The guest’s own page tables: nonpae (2-level), pae (3-level) or long4 (4-level).' },
  'vms[].guest.cr0': { title: 'CR0' },
  'vms[].guest.cr0.wp': { title: 'CR0.WP', description: 'Write protect: supervisor writes honour read-only pages.' },
  'vms[].guest.cr4': { title: 'CR4' },
  'vms[].guest.cr4.pse': { title: 'CR4.PSE', description: '4 MiB pages in non-PAE paging.' },
  'vms[].guest.cr4.smep': { title: 'CR4.SMEP', description: 'Supervisor-mode execution prevention.' },
  'vms[].guest.cr4.smap': { title: 'CR4.SMAP', description: 'Supervisor-mode access prevention.' },
  'vms[].guest.efer': { title: 'EFER' },
  'vms[].guest.efer.nx': { title: 'EFER.NX', description: 'No-execute; without it bit 63 of a PAE or 4-level entry is reserved.' },
  'vms[].guest.workload': { title: 'Workload', description: 'What the guest does (docs/scenarios.md, Workloads).' },
  'vms[].guest.workload.kind': { title: 'Kind' },
  'vms[].guest.workload.pages': { title: 'Pages', description: 'Pages each process (or vCPU) touches.' },
  'vms[].guest.workload.processes': { title: 'Processes', description: 'How many processes the guest runs.' },
  'vms[].guest.workload.iterations': { title: 'Iterations', description: 'How many times the workload repeats its loop.' },
  'vms[].guest.workload.shared': { title: 'Shared pages', description: 'dirty-log: every vCPU writes the same pages.' },
  'vms[].guest.workload.memslotEvery': { title: 'Memslot change every', description: 'mmio: the host changes its memslots every this many accesses (0: never).' },
  'vms[].guest.workload.steps': { title: 'Script steps', description: 'The scripted guest’s steps, as JSON (docs/scenarios.md, Scripts).' },
  'vms[].mmu': { title: 'MMU' },
  'vms[].mmu.mode': { title: 'MMU mode', description: 'shadow paging, tdp (EPT/NPT) or xenpv (Xen PV direct paging).' },
  'vms[].mmu.mmioSptes': { title: 'MMIO sptes', description: 'Cache MMIO accesses in MMIO sptes tagged with the memslot generation.' },
  'vms[].mmu.shadow': { title: 'Shadow paging' },
  'vms[].mmu.shadow.onGuestPteWrite': { title: 'On a guest pte write', description: 'zap the shadow pte (3 exits per demand fault) or update it in place (2).' },
  'vms[].mmu.shadow.cachePages': { title: 'Shadow page cache', description: 'Shadow pages kept before the oldest is recycled (8 … 2^20).' },
  'vms[].mmu.shadow.floodThreshold': { title: 'Write-flood threshold', description: 'Emulated writes in a row to one table before it is zapped.' },
  'vms[].mmu.shadow.unsync': { title: 'Unsync shadow pages', description: 'Leaf shadow pages go out of sync instead of trapping every pte store.' },
  'vms[].mmu.tdp': { title: 'TDP (EPT/NPT)' },
  'vms[].mmu.tdp.fastPageFault': { title: 'Fast page fault', description: 'Fix write faults on write-protected sptes without mmu_lock, by a compare-and-exchange.' },
  'vms[].mmu.tdp.tdpMmu': { title: 'TDP MMU', description: 'Faults take mmu_lock shared with atomic spte changes; off: exclusive, vCPUs queue.' },
  'vms[].mmu.tdp.largePages': { title: 'Large pages', description: 'Map 2 MiB EPT leaves where a whole region is RAM (not while dirty logging).' },
  'vms[].mmu.tdp.walkCaches': { title: 'Walk caches', description: 'Paging-structure caches shorten the 2D walk; off: every miss pays all 24 references.' },
  'vms[].mmu.nested': { title: 'Nested' },
  'vms[].mmu.nested.enabled': { title: 'Nested guest', description: 'The guest is an L2 guest run by an L1 hypervisor, itself a guest of L0 (MMU mode tdp or, with L1 on shadow paging, shadow).' },
  'vms[].mmu.nested.inveptEvery': { title: 'INVEPT every', description: 'L1 invalidates EPT02 every this many L2 TLB misses; 0 never.' },
  'vms[].mmu.nested.l1Mmu': { title: 'L1 maps L2 with', description: 'ept: L1 gives L2 an EPT (EPT12), shadowed by L0 as EPT02 (nested TDP; MMU mode tdp). shadow: L1 runs L2 on shadow page tables (SPT12, with the Shadow options), and every #PF, page-table store and CR3 load of L2 goes through L0 to L1; with MMU mode tdp the CPU walks SPT12 through L0’s EPT01 (shadow-on-EPT), with shadow L0 shadows SPT12 into SPT02 (shadow-on-shadow).' },
  'vms[].mmu.xenpv': { title: 'Xen PV' },
  'vms[].mmu.xenpv.pinning': { title: 'Pinning', description: 'Pin address spaces: no revalidation on CR3 loads.' },
  'vms[].mmu.xenpv.batching': { title: 'Batching', description: 'Batch lazy-mode pte updates into multicalls.' },
  'vms[].mmu.xenpv.batchSize': { title: 'Batch size', description: 'pte updates per multicall (1-1024).' },
  'vms[].bugs': { title: 'Bugs to switch on', description: 'Known KVM bugs, off by default (docs/scenarios.md).' },
};

type Node = Record<string, unknown>;

/**
 * Add `title` and `description` from SCENARIO_FIELD_DOCS to a JSON Schema of the scenario (as
 * zod's toJSONSchema gives it), in place; returns it. Nodes without an entry are left alone.
 */
export function describeScenarioSchema<T extends Node>(schema: T): T {
  const visit = (node: unknown, path: string): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Node;
    const doc = SCENARIO_FIELD_DOCS[path];
    if (doc) {
      n.title ??= doc.title;
      if (doc.description) n.description ??= doc.description;
    }
    const props = n.properties as Record<string, unknown> | undefined;
    if (props) for (const [key, child] of Object.entries(props)) visit(child, path ? `${path}.${key}` : key);
    if (n.items) visit(n.items, `${path}[]`);
    for (const alt of ['anyOf', 'oneOf', 'allOf'] as const) if (Array.isArray(n[alt])) for (const v of n[alt] as unknown[]) visit(v, path);
  };
  visit(schema, '');
  return schema;
}

export const MMU_DESIGNS = ['Shadow paging', 'EPT/NPT', 'TDP MMU', 'Xen PV', 'Nested'] as const;
export type MmuDesign = (typeof MMU_DESIGNS)[number];

/**
 * The MMU design a scenario shows, from its first VM: Xen PV direct paging; nested (L1 on EPT or
 * on shadow paging); the TDP MMU's own mechanisms (a scenario that sets its locking or fast-path
 * switches, or dirty logs); other EPT/NPT runs; else shadow paging.
 */
export function scenarioDesign(scenario: ScenarioInput): MmuDesign {
  const vm = scenario.vms[0];
  const mmu = vm?.mmu;
  if (mmu?.mode === 'xenpv') return 'Xen PV';
  if (mmu?.nested?.enabled) return 'Nested';
  if (mmu?.mode === 'tdp') {
    if (mmu.tdp?.tdpMmu !== undefined || mmu.tdp?.fastPageFault !== undefined || vm?.guest.workload.kind === 'dirty-log') return 'TDP MMU';
    return 'EPT/NPT';
  }
  return 'Shadow paging';
}
