/**
 * The scenario contract (DESIGN.md "Stable contracts"): its schema, defaults and the one
 * parser that turns untrusted JSON into a checked `Scenario` or one clear message naming
 * the offending key. Unknown keys are errors, so a typo never silently means "default".
 */
import { z } from 'zod';

/** A number given as a JSON number or a hex/decimal string ("0x400000", "4096"). */
const numberLike = z
  .union([z.number().int().nonnegative(), z.string().regex(/^(0x[0-9a-fA-F]+|[0-9]+)$/, 'expected a number or a hex string like "0x1000"')])
  .transform((v) => (typeof v === 'number' ? v : Number(BigInt(v))))
  .refine((v) => Number.isSafeInteger(v), 'number too large');

export const PAGING_MODES = ['nonpae', 'pae', 'long4'] as const;
export type PagingMode = (typeof PAGING_MODES)[number];

export const MMU_MODES = ['shadow', 'tdp', 'xenpv'] as const;
export type MmuMode = (typeof MMU_MODES)[number];

export const PAGE_SIZES = ['4k', '2m', '4m', '1g'] as const;
export type PageSize = (typeof PAGE_SIZES)[number];

export const PTE_FLAGS = ['P', 'W', 'U', 'A', 'D', 'G', 'NX', 'RSVD'] as const;
export type PteFlag = (typeof PTE_FLAGS)[number];

export const LEVEL_NAMES = ['pml4', 'pdpt', 'pd', 'pt'] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];

const flags = z.array(z.enum(PTE_FLAGS));

const mapStep = z.strictObject({
  op: z.literal('map'),
  va: numberLike,
  gpa: numberLike,
  size: z.enum(PAGE_SIZES).default('4k'),
  levels: z.strictObject({ pml4: flags, pdpt: flags, pd: flags, pt: flags }).partial().prefault({}),
});
const accessStep = z.strictObject({
  op: z.literal('access'),
  va: numberLike,
  access: z.enum(['read', 'write', 'fetch']),
  cpl: z.union([z.literal(0), z.literal(3)]).default(3),
});
const invlpgStep = z.strictObject({ op: z.literal('invlpg'), va: numberLike });
const cr3Step = z.strictObject({ op: z.literal('cr3'), process: z.number().int().min(0).max(4095) });
const forkStep = z.strictObject({ op: z.literal('fork') });
const exitStep = z.strictObject({ op: z.literal('exit') });
const dirtyLogStep = z.strictObject({ op: z.literal('dirtyLog') });
/**
 * Extension (issue 15 §4): the guest changes its paging controls at run time (MOV to CR0 /
 * CR4, WRMSR to EFER). Only the bits given change.
 */
const setControlsStep = z.strictObject({
  op: z.literal('setControls'),
  cr0: z.strictObject({ wp: z.boolean() }).partial().optional(),
  cr4: z.strictObject({ pse: z.boolean(), smep: z.boolean(), smap: z.boolean() }).partial().optional(),
  efer: z.strictObject({ nx: z.boolean() }).partial().optional(),
});
/**
 * A value of up to 64 bits: a JSON number or a hex string of up to 16 digits. Kept as given
 * (a parsed scenario is stored in sessions as JSON, which has no 64-bit integers); read it
 * with `value64Of`.
 */
const value64 = z.union([
  z.number().int().nonnegative().refine((v) => Number.isSafeInteger(v), 'number too large: give it as a hex string'),
  z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, 'expected a number or a hex string of up to 16 digits like "0x8000000000200067"'),
]);
export function value64Of(v: number | string): bigint {
  return BigInt(v);
}
/**
 * Extension (issue 15 §4): the guest kernel stores `bytes` bytes of `value` at guest-physical
 * `gpa` in one of its page tables: part of an entry, or straddling two (a misaligned write).
 * `level` only labels the `gpte_write` events it causes.
 */
const pteWriteStep = z.strictObject({
  op: z.literal('pteWrite'),
  gpa: numberLike,
  bytes: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8)]),
  value: value64,
  level: z.number().int().min(1).max(4).default(1),
});

/**
 * Extension (issue 15 §4): the host invalidates the host page behind guest frame `gpa` (an
 * mmu_notifier invalidation): it reclaims it (swap) or migrates it to another host frame. The
 * MMU drops every spte mapping it; the guest's next access faults it back in.
 */
const hostInvalidateStep = z.strictObject({
  op: z.literal('hostInvalidate'),
  gpa: numberLike,
  reason: z.enum(['reclaim', 'migrate']).default('reclaim'),
});

export const scriptStepSchema = z.discriminatedUnion('op', [
  mapStep,
  accessStep,
  invlpgStep,
  cr3Step,
  forkStep,
  exitStep,
  dirtyLogStep,
  setControlsStep,
  pteWriteStep,
  hostInvalidateStep,
]);
export type ScriptStep = z.output<typeof scriptStepSchema>;

const count = (max: number) => z.number().int().min(1).max(max);

export const workloadSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('demand-paging'), pages: count(1 << 20).default(64) }),
  z.strictObject({ kind: z.literal('fork-cow'), pages: count(1 << 16).default(32), processes: count(4096).default(4) }),
  z.strictObject({
    kind: z.literal('kbuild'),
    processes: count(1 << 20).default(40),
    pages: count(1 << 16).default(24),
    iterations: count(1 << 20).default(1),
  }),
  z.strictObject({
    kind: z.literal('context-switch'),
    processes: count(4096).default(4),
    pages: count(1 << 16).default(16),
    iterations: count(1 << 24).default(200),
  }),
  z.strictObject({
    kind: z.literal('dirty-log'),
    pages: count(1 << 20).default(1024),
    iterations: count(1 << 16).default(10),
    /** Every vCPU writes the same pages (instead of its own), so their write faults overlap. */
    shared: z.boolean().default(false),
  }),
  z.strictObject({
    kind: z.literal('mmio'),
    iterations: count(1 << 24).default(100),
    /** The host changes its memslots every this many accesses (0: never), invalidating MMIO sptes. */
    memslotEvery: z.number().int().min(0).max(1 << 24).default(0),
  }),
  z.strictObject({ kind: z.literal('script'), steps: z.array(scriptStepSchema).max(1_000_000) }),
]);
export type Workload = z.output<typeof workloadSchema>;
export type WorkloadKind = Workload['kind'];

/**
 * Historical bugs that can be switched back on. Each names the mechanism it breaks; the
 * engine shows what goes wrong and the auditor catches it.
 */
export const BUG_NAMES = [
  /** seed 000: large-page shadow pages not keyed by access permissions → endless fault loop */
  'largePageAccessKey',
  /** seed 001 races of the lockless fast page fault */
  'fastPfAba',
  'fastPfLostDirty',
  'fastPfMissedFlush',
  'fastPfFlushOverwrite',
] as const;
export type BugName = (typeof BUG_NAMES)[number];

const bugsSchema = z.strictObject(Object.fromEntries(BUG_NAMES.map((b) => [b, z.boolean().optional()])) as Record<BugName, z.ZodOptional<z.ZodBoolean>>).prefault({});

const guestSchema = z.strictObject({
  paging: z.enum(PAGING_MODES).default('long4'),
  cr0: z.strictObject({ wp: z.boolean().default(true) }).prefault({}),
  cr4: z
    .strictObject({ pse: z.boolean().default(true), smep: z.boolean().default(false), smap: z.boolean().default(false) })
    .prefault({}),
  efer: z.strictObject({ nx: z.boolean().default(true) }).prefault({}),
  workload: workloadSchema,
});

const mmuSchema = z.strictObject({
  mode: z.enum(MMU_MODES).default('shadow'),
  /** Cache MMIO translations in sptes tagged with the memslot generation (mmu.rst). */
  mmioSptes: z.boolean().default(true),
  shadow: z
    .strictObject({
      onGuestPteWrite: z.enum(['zap', 'update']).default('update'),
      /** Shadow page cache size in pages; the MMU recycles pages when it runs out. */
      cachePages: z.number().int().min(8).max(1 << 20).default(4096),
      /** Emulated writes to one shadow page in a row before it is zapped (write flood). */
      floodThreshold: z.number().int().min(1).max(1 << 16).default(3),
      unsync: z.boolean().default(false),
    })
    .prefault({}),
  tdp: z
    .strictObject({
      fastPageFault: z.boolean().default(false),
      tdpMmu: z.boolean().default(true),
      largePages: z.boolean().default(true),
      /** Paging-structure caches and guest-physical TLB entries that shorten the 2D walk. */
      walkCaches: z.boolean().default(true),
      /** Dirty logging by EPT dirty bits and the page-modification log (Intel PML) instead of write protection. */
      pml: z.boolean().default(false),
      /** Split 2 MiB leaves into 4 KiB tables when dirty logging starts (eager) instead of dropping them (lazy). */
      eagerSplit: z.boolean().default(false),
    })
    .prefault({}),
  /**
   * Nested (core/nested/, core/nestedshadow/): the guest is an L2 guest; its L1 hypervisor maps
   * its memory with EPT (EPT12, nested TDP: needs mode tdp) or runs it on shadow tables (SPT12,
   * with `shadow`'s options for L1's shadow MMU), which L0 has the CPU walk through its EPT01
   * (mode tdp: shadow-on-EPT) or shadows into SPT02 (mode shadow: shadow-on-shadow).
   */
  nested: z
    .strictObject({
      enabled: z.boolean().default(false),
      inveptEvery: z.number().int().min(0).max(1 << 24).default(0),
      l1Mmu: z.enum(['ept', 'shadow']).default('ept'),
    })
    .prefault({}),
  xenpv: z
    .strictObject({ pinning: z.boolean().default(true), batching: z.boolean().default(true), batchSize: count(1024).default(32) })
    .prefault({}),
});

export const HARDWARE_PROFILES = ['vtx-2007', 'ept-2012', 'modern', 'npt-amd'] as const;
export type HardwareProfileName = (typeof HARDWARE_PROFILES)[number];

const vmSchema = z
  .strictObject({
    vcpus: z.number().int().min(1).max(64).default(1),
    memoryMiB: z.number().int().min(1).max(1 << 16).default(64),
    guest: guestSchema,
    mmu: mmuSchema.prefault({}),
    bugs: bugsSchema,
  })
  .superRefine((vm, ctx) => {
    if (vm.mmu.tdp.pml && vm.mmu.mode !== 'tdp') ctx.addIssue({ code: 'custom', path: ['mmu', 'tdp', 'pml'], message: 'PML needs mmu.mode tdp (it logs EPT dirty bits)' });
    if (vm.mmu.nested.enabled && vm.mmu.nested.l1Mmu === 'ept' && vm.mmu.mode !== 'tdp') ctx.addIssue({ code: 'custom', path: ['mmu', 'nested', 'enabled'], message: 'nested TDP needs mmu.mode tdp (L1 runs L2 on its EPT)' });
    if (vm.mmu.nested.l1Mmu === 'shadow' && vm.mmu.nested.inveptEvery > 0) ctx.addIssue({ code: 'custom', path: ['mmu', 'nested', 'inveptEvery'], message: 'INVEPT is L1 changing its EPT12 (l1Mmu: ept); an L1 on shadow paging has no EPT for L2' });
    if (vm.mmu.nested.enabled && vm.mmu.nested.l1Mmu === 'shadow' && vm.mmu.mode === 'xenpv') ctx.addIssue({ code: 'custom', path: ['mmu', 'nested', 'l1Mmu'], message: 'nested shadow paging needs mmu.mode tdp (shadow-on-EPT) or shadow (shadow-on-shadow): L0 runs L1 in a VMX guest' });
    const w = vm.guest.workload;
    if (w.kind !== 'script') return;
    const bits32 = vm.guest.paging !== 'long4';
    w.steps.forEach((step, i) => {
      const at = (key: string): PropertyKey[] => ['guest', 'workload', 'steps', i, key];
      if ((step.op === 'map' || step.op === 'access' || step.op === 'invlpg') && bits32 && step.va >= 2 ** 32) {
        ctx.addIssue({ code: 'custom', path: at('va'), message: `0x${step.va.toString(16)} is at or above 4 GiB: ${vm.guest.paging} paging translates 32-bit linear addresses` });
      }
      if (step.op === 'pteWrite') {
        if (value64Of(step.value) >= 1n << BigInt(8 * step.bytes)) ctx.addIssue({ code: 'custom', path: at('value'), message: `0x${value64Of(step.value).toString(16)} does not fit in ${step.bytes} byte${step.bytes === 1 ? '' : 's'}` });
        if ((step.gpa % 4096) + step.bytes > 4096) ctx.addIssue({ code: 'custom', path: at('gpa'), message: `a ${step.bytes}-byte store at 0x${step.gpa.toString(16)} crosses a page boundary (one store stays in one page table)` });
      }
      if (step.op !== 'map') return;
      if (vm.guest.paging === 'long4' && step.va >= 2 ** 47) ctx.addIssue({ code: 'custom', path: at('va'), message: `0x${step.va.toString(16)} is not canonical (4-level paging maps addresses below 2^47 here; bits 63:47 must be equal): no page-table entry can map it` });
      if (vm.guest.paging === 'nonpae' && step.gpa >= (step.size === '4m' ? 2 ** 40 : 2 ** 32)) ctx.addIssue({ code: 'custom', path: at('gpa'), message: `0x${step.gpa.toString(16)} does not fit in a non-PAE ${step.size} entry (${step.size === '4m' ? '40-bit addresses with PSE-36' : '32-bit physical addresses'})` });
      const problem = impossibleMapping(vm.guest.paging, vm.guest.cr4.pse, step.size);
      if (problem) ctx.addIssue({ code: 'custom', path: ['guest', 'workload', 'steps', i, 'size'], message: problem });
      for (const [level, flags] of Object.entries(step.levels)) {
        const bad = impossibleFlags(vm.guest.paging, step.size, level as LevelName, flags ?? []);
        if (bad) ctx.addIssue({ code: 'custom', path: ['guest', 'workload', 'steps', i, 'levels', level], message: bad });
      }
    });
  });

export const scenarioSchema = z.strictObject({
  name: z.string().min(1).max(200),
  description: z.string().max(10_000).optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
  hardware: z.strictObject({ profile: z.enum(HARDWARE_PROFILES).default('vtx-2007') }).prefault({}),
  vms: z.array(vmSchema).min(1).max(16),
});

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type VmConfig = Scenario['vms'][number];

/** Why a page size cannot exist in a paging mode (SDM Vol. 3A §4.3-4.5), or undefined. */
export function impossibleMapping(paging: PagingMode, pse: boolean, size: PageSize): string | undefined {
  if (paging === 'nonpae') {
    if (size === '2m' || size === '1g') return `a ${size} page does not exist in non-PAE paging (4k or 4m only)`;
    if (size === '4m' && !pse) return 'a 4m page needs cr4.pse in non-PAE paging';
  } else {
    if (size === '4m') return `a 4m page exists only in non-PAE paging (this guest uses ${paging})`;
    if (size === '1g' && paging === 'pae') return 'a 1g page does not exist in PAE paging (4k or 2m only)';
  }
  return undefined;
}

const LEVELS_OF: Record<PagingMode, readonly LevelName[]> = { nonpae: ['pd', 'pt'], pae: ['pdpt', 'pd', 'pt'], long4: ['pml4', 'pdpt', 'pd', 'pt'] };

/** Why a flag cannot be set at a level of a mapping (SDM Vol. 3A §4.3-4.5), or undefined. */
export function impossibleFlags(paging: PagingMode, size: PageSize, level: LevelName, flags: readonly PteFlag[]): string | undefined {
  if (!LEVELS_OF[paging].includes(level)) return `${paging} paging has no "${level}" level (levels: ${LEVELS_OF[paging].join(', ')})`;
  if (paging !== 'nonpae') return undefined;
  if (flags.includes('NX')) return 'NX does not exist in non-PAE paging (32-bit entries)';
  const large = size === '4m' && level === 'pd';
  if (flags.includes('RSVD') && !large) return 'RSVD: a non-PAE entry has reserved bits only in a 4 MiB pde';
  return undefined;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** A dotted path as a user writes it: `vms[0].guest.workload.steps[3].size`. */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += (out ? '.' : '') + String(part);
  }
  return out || '(top level)';
}

/** One clear line for the first problem zod found. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid value';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? formatPath(issue.path) + '.' : '';
    return `unknown key ${issue.keys.map((k) => `"${where}${k}"`).join(', ')}`;
  }
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    return `${formatPath(issue.path)}: ${issue.message}`;
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/** Parse an untrusted scenario object. Never throws. */
export function parseScenario(input: unknown): ParseResult<Scenario> {
  const result = scenarioSchema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: describeZodError(result.error) };
}
