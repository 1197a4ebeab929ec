/** The line assembler: rejoining wrapped records, and keeping prose and tables out of them. */
import { describe, expect, it } from 'vitest';
import { LineAssembler, type TraceRecord } from './lines.ts';

describe('LineAssembler', () => {
  function assemble(text: string): { recs: TraceRecord[]; asm: LineAssembler } {
    const recs: TraceRecord[] = [];
    const asm = new LineAssembler((r) => recs.push(r));
    text.split('\n').forEach((l, i) => asm.push(l, i + 1));
    asm.end();
    return { recs, asm };
  }

  it('rejoins a perf line wrapped after its timestamp, and a payload wrapped after the event name', () => {
    const { recs } = assemble(' qemu-system-x86 83801 [090] 10892345.982869:\nkvm:kvm_userspace_exit: reason KVM_EXIT_UNKNOWN (0)\nVCPU-0-61883   [078] ..... 72276.115679: kvm_page_fault: address\n84d000 error_code 4');
    expect(recs.map((r) => [r.lineNo, r.pid, r.event, r.body])).toEqual([
      [1, 83801, 'kvm_userspace_exit', 'reason KVM_EXIT_UNKNOWN (0)'],
      [3, 61883, 'kvm_page_fault', 'address 84d000 error_code 4'],
    ]);
  });

  it('does not glue table rows or prose onto a record', () => {
    const { recs, asm } = assemble('q-1 [000] 1.000001: kvm_entry: vcpu 0\n  36.22%  reason MSR_WRITE rip 0x1 info 0 0\nSome prose  with two spaces');
    expect(recs.map((r) => r.body)).toEqual(['vcpu 0']);
    expect(asm.skippedLines.map((s) => s.line)).toEqual([2, 3]);
  });
});
