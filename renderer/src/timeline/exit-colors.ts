/**
 * One colour per vmexit reason, stable across sessions so a reader learns them: the reasons
 * the lab produces most get hand-picked colours, anything else (imported traces, Xen PV
 * `hypercall:<name>` / `trap:<name>`) a colour derived from its name.
 */
const FIXED: Record<string, string> = {
  EXCEPTION_NMI: '#d9480f',
  EPT_VIOLATION: '#1c7ed6',
  EPT_MISCONFIG: '#7048e8',
  CR_ACCESS: '#2b8a3e',
  INVLPG: '#e8590c',
  HLT: '#868e96',
  IO_INSTRUCTION: '#c2255c',
  EXTERNAL_INTERRUPT: '#5c940d',
  VMCALL: '#0b7285',
  MSR_READ: '#a61e4d',
  MSR_WRITE: '#862e9c',
  PML_FULL: '#e67700',
  npf: '#1c7ed6',
};

const PALETTE = ['#1098ad', '#f08c00', '#9c36b5', '#37b24d', '#f03e3e', '#4263eb', '#d6336c', '#74b816', '#ae3ec9', '#0ca678'];

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function exitColor(reason: string): string {
  // a reason is data from a trace: `constructor` must not read Object.prototype's
  return (Object.hasOwn(FIXED, reason) ? FIXED[reason] : undefined) ?? PALETTE[hash(reason) % PALETTE.length] ?? '#888888';
}
