/**
 * The one definition of VM exit reasons and of what the hypervisor did about an exit.
 *
 * Reasons use the VMX names as KVM prints them in `kvm_exit` (arch/x86 `VMX_EXIT_REASONS`),
 * with the SVM names an AMD profile or an imported AMD trace uses, and Xen PV's
 * `hypercall:<name>` / `trap:<name>` forms. The numeric codes are the architectural basic
 * exit reasons (Intel SDM Vol. 3C, Appendix C; AMD APM Vol. 2, Appendix C), used by the
 * trace importer to name exits that a trace prints only as numbers.
 */

export const VMX_EXIT_REASONS = {
  EXCEPTION_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INIT_SIGNAL: 3,
  SIPI_SIGNAL: 4,
  INTERRUPT_WINDOW: 7,
  NMI_WINDOW: 8,
  TASK_SWITCH: 9,
  CPUID: 10,
  HLT: 12,
  INVD: 13,
  INVLPG: 14,
  RDPMC: 15,
  RDTSC: 16,
  VMCALL: 18,
  VMCLEAR: 19,
  VMLAUNCH: 20,
  VMPTRLD: 21,
  VMPTRST: 22,
  VMREAD: 23,
  VMRESUME: 24,
  VMWRITE: 25,
  VMOFF: 26,
  VMON: 27,
  CR_ACCESS: 28,
  DR_ACCESS: 29,
  IO_INSTRUCTION: 30,
  MSR_READ: 31,
  MSR_WRITE: 32,
  INVALID_STATE: 33,
  MSR_LOAD_FAIL: 34,
  MWAIT_INSTRUCTION: 36,
  MONITOR_TRAP_FLAG: 37,
  MONITOR_INSTRUCTION: 39,
  PAUSE_INSTRUCTION: 40,
  MCE_DURING_VMENTRY: 41,
  TPR_BELOW_THRESHOLD: 43,
  APIC_ACCESS: 44,
  EOI_INDUCED: 45,
  GDTR_IDTR: 46,
  LDTR_TR: 47,
  EPT_VIOLATION: 48,
  EPT_MISCONFIG: 49,
  INVEPT: 50,
  RDTSCP: 51,
  PREEMPTION_TIMER: 52,
  INVVPID: 53,
  WBINVD: 54,
  XSETBV: 55,
  APIC_WRITE: 56,
  RDRAND: 57,
  INVPCID: 58,
  VMFUNC: 59,
  ENCLS: 60,
  RDSEED: 61,
  PML_FULL: 62,
  XSAVES: 63,
  XRSTORS: 64,
  UMWAIT: 67,
  TPAUSE: 68,
  BUS_LOCK: 74,
  NOTIFY: 75,
} as const;

export type VmxExitReason = keyof typeof VMX_EXIT_REASONS;

/** The SVM exit names (as KVM's `svm_exit_reasons` prints them) the lab uses or imports. */
export const SVM_EXIT_REASONS = {
  read_cr0: 0x000,
  read_cr3: 0x003,
  write_cr0: 0x010,
  write_cr3: 0x013,
  write_cr4: 0x014,
  excp_pf: 0x04e,
  intr: 0x060,
  nmi: 0x061,
  smi: 0x062,
  init: 0x063,
  vintr: 0x064,
  cr0_sel_write: 0x065,
  cpuid: 0x072,
  iret: 0x074,
  pause: 0x077,
  hlt: 0x078,
  invlpg: 0x079,
  invlpga: 0x07a,
  ioio: 0x07b,
  msr: 0x07c,
  task_switch: 0x07d,
  shutdown: 0x07f,
  vmrun: 0x080,
  vmmcall: 0x081,
  vmload: 0x082,
  vmsave: 0x083,
  rdtscp: 0x087,
  wbinvd: 0x089,
  monitor: 0x08a,
  mwait: 0x08b,
  xsetbv: 0x08d,
  rdpru: 0x08e,
  npf: 0x400,
} as const;

export type SvmExitReason = keyof typeof SVM_EXIT_REASONS;

/**
 * The SVM name of each VMX exit reason the engine raises, used on an AMD profile (as KVM's
 * `svm_exit_reasons` prints them). NPT reports an MMIO spte as a nested page fault with
 * RSVD set, so both EPT reasons are `npf`; a nested hypervisor resumes its guest with VMRUN.
 * INVEPT has no SVM counterpart and keeps its name.
 */
export const SVM_NAME_OF_VMX: Partial<Record<VmxExitReason, SvmExitReason>> = {
  EXCEPTION_NMI: 'excp_pf',
  CR_ACCESS: 'write_cr3',
  IO_INSTRUCTION: 'ioio',
  EPT_VIOLATION: 'npf',
  EPT_MISCONFIG: 'npf',
  INVLPG: 'invlpg',
  VMRESUME: 'vmrun',
  VMLAUNCH: 'vmrun',
};

/** An exit reason as an AMD profile names it: its SVM name if it has one (Xen PV and other names unchanged). */
export function svmNameOf(reason: string): string {
  return Object.hasOwn(SVM_NAME_OF_VMX, reason) ? (SVM_NAME_OF_VMX[reason as VmxExitReason] ?? reason) : reason;
}

/** What the hypervisor did to handle an exit. Open-ended; these are the engine's own. */
export const HANDLINGS = [
  'inject-guest-pf',
  'emulate-pte-write',
  'fill-spte',
  'fast-pf',
  'spurious',
  'zap-shadow-page',
  'invlpg',
  'cr3-switch',
  'map-gfn',
  'mmio-emulate',
  'hypercall',
  'validate-pte',
  'interrupt',
  /** Xen PV (core/xenpv.ts) */
  'pin',
  'unpin',
  'reject-update',
  /** MMIO sptes (core/mmio.ts): a cached MMIO spte sent the access straight to the emulator */
  'mmio-cached',
  /** unsync shadow pages (core/unsync.ts) */
  'unsync',
  'sync-shadow-pages',
  /** nested TDP (core/nested/) */
  'reflect-to-l1',
  'shadow-ept-fill',
  'emulate-ept-write',
  'nested-vmentry',
  'sync-shadow-ept',
  /** PML (core/tdp/faultPath.ts): the page-modification log was full and was drained into the dirty bitmap */
  'pml-flush',
  'other',
  /** a #GP for the guest: a refused MOV to CR3 (shadow paging sees it), a PV guest's #GP bounced by Xen */
  'inject-gp',
  /** CR0.WP, CR4.SMEP/SMAP/PSE or EFER.NXE changed: a new MMU role (shadow paging) */
  'mmu-role-change',
] as const;

export type Handling = (typeof HANDLINGS)[number];

const vmxByCode = new Map<number, VmxExitReason>(
  Object.entries(VMX_EXIT_REASONS).map(([name, code]) => [code, name as VmxExitReason]),
);
const svmByCode = new Map<number, SvmExitReason>(
  Object.entries(SVM_EXIT_REASONS).map(([name, code]) => [code, name as SvmExitReason]),
);

/** The VMX name of a basic exit reason code, or `UNKNOWN_<code>`. */
export function vmxReasonName(code: number): string {
  return vmxByCode.get(code & 0xffff) ?? `UNKNOWN_${code}`;
}

/** The SVM name of an exit code, or `unknown_0x<code>`. */
export function svmReasonName(code: number): string {
  return svmByCode.get(code) ?? `unknown_0x${code.toString(16)}`;
}

/** Xen PV exits are hypercalls and traps, named as the exit reason itself. */
export function xenHypercall(name: string): string {
  return `hypercall:${name}`;
}
export function xenTrap(name: string): string {
  return `trap:${name}`;
}
