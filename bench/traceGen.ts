/**
 * Large KVM trace texts for the import benchmark, in the three flavours, with the shapes of the
 * real fixtures (sessions/import/fixtures): 8 vCPU threads of one QEMU, kvm_exit of the 5.12+
 * kernel text (ftrace, perf) or the plugin text (trace-cmd), kvm_entry, page faults, fast page
 * faults, MMIO and a kvmmmu spte line now and then. Deterministic; written in large blocks.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type GenFlavour = 'ftrace' | 'trace-cmd' | 'perf';

const REASONS = ['EPT_VIOLATION', 'EPT_VIOLATION', 'EXTERNAL_INTERRUPT', 'MSR_WRITE', 'HLT', 'IO_INSTRUCTION', 'EPT_MISCONFIG', 'PREEMPTION_TIMER'];

function prefix(flavour: GenFlavour, vcpu: number, ts: string, event: string): string {
  const pid = 5780 + vcpu;
  const cpu = String(vcpu * 3).padStart(3, '0');
  if (flavour === 'ftrace') return `       CPU ${vcpu}/KVM-${pid} [${cpu}] d.... ${ts}: ${event}: `;
  if (flavour === 'trace-cmd') return `       CPU ${vcpu}/KVM-${pid} [${cpu}] ${ts}: ${(event + ':').padEnd(22)}`;
  return `       CPU ${vcpu}/KVM ${pid} [${cpu}] ${ts}: kvm:${event}: `;
}

/** Write about `mb` MiB of trace text to `path`; returns the number of lines. */
export function writeTrace(path: string, flavour: GenFlavour, mb: number): number {
  const target = mb * 1048576;
  const fd = openSync(path, 'w');
  let written = 0;
  let lines = 0;
  let us = 3_602_162_000_000; // µs
  let x = 1;
  const rand = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff) % n);
  try {
    if (flavour === 'ftrace') {
      const head = '# tracer: nop\n#\n# entries-in-buffer/entries-written: 0/0   #P:8\n#\n';
      written += writeSync(fd, head);
      lines += 4;
    } else if (flavour === 'trace-cmd') {
      written += writeSync(fd, 'cpus=8\n');
      lines += 1;
    }
    while (written < target) {
      const parts: string[] = [];
      for (let i = 0; i < 20000; i++) {
        const vcpu = rand(8);
        const reason = REASONS[rand(REASONS.length)]!;
        const rip = (0xffffffff81000000 + rand(0x100000) * 16).toString(16);
        const ts = () => {
          us += 1 + rand(3);
          return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
        };
        const p = (event: string) => prefix(flavour, vcpu, ts(), event);
        if (flavour === 'trace-cmd') parts.push(p('kvm_exit') + `reason ${reason} rip 0x${rip} info 184 0`);
        else
          parts.push(
            p('kvm_exit') + `vcpu ${vcpu} reason ${reason} rip 0x${rip} info1 0x0000000000000184 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000`,
          );
        if (reason === 'EPT_VIOLATION') {
          const gpa = (0x100000 + rand(0x400000) * 4096).toString(16);
          parts.push(p('kvm_page_fault') + `vcpu ${vcpu} rip 0x${rip} address 0x${gpa.padStart(16, '0')} error_code 0x184`);
          if (rand(4) === 0)
            parts.push(p('fast_page_fault') + `vcpu ${vcpu} gva ${gpa} error_code F sptep 00000000fd98c937 old 0x61000034d4fe877 new 61000034d4fe877 spurious 1 fixed 0`);
          else parts.push(p('kvm_mmu_set_spte') + `gfn ${gpa.slice(0, -3)} spte 100b4a00ea7 (rwxu) level 1 at 10052fa5020`);
        } else if (reason === 'EPT_MISCONFIG') parts.push(p('kvm_mmio') + `mmio write len 4 gpa 0xfee000b0 val 0x0`);
        else if (reason === 'MSR_WRITE') parts.push(p('kvm_msr') + `msr_write 6e0 = 0x81cba98c958c9`);
        parts.push(p('kvm_entry') + `vcpu ${vcpu}, rip 0x${rip}`);
      }
      lines += parts.length;
      written += writeSync(fd, parts.join('\n') + '\n');
    }
  } finally {
    closeSync(fd);
  }
  return lines;
}
