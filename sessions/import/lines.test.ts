/**
 * The regex-free fast path for ftrace / trace-cmd prefixes must give exactly what the full
 * regular expression gives, or step aside (undefined) so the regular expression decides.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineAssembler, parseFtFast, parseFtRegex, type TraceRecord } from './lines.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

function agree(line: string): void {
  const fast = parseFtFast(line, 1);
  if (fast) expect(fast, line).toEqual(parseFtRegex(line, 1));
}

describe('parseFtFast', () => {
  it('agrees with the regular expression on every fixture line', () => {
    let taken = 0;
    for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.txt')))
      for (const raw of readFileSync(FIXTURES + f, 'utf8').split('\n')) {
        const line = raw.replace(/^(?:>\s?)+/, '');
        agree(line);
        if (parseFtFast(line, 1)) taken++;
      }
    // it must actually carry the common case
    expect(taken).toBeGreaterThan(150);
  });

  it('agrees with the regular expression on generated prefixes (fixed seed)', () => {
    const pick = <T>(xs: T[]) => fc.constantFrom(...xs);
    const line = fc
      .record({
        lead: pick(['', ' ', '       ', '\t']),
        comm: pick(['qemu', 'CPU 0/KVM', 'VCPU-0', '<...>', 'apic_bus_clock_', 'a-1 b', 'x[1]', '', 'kvm-5664']),
        pid: fc.integer({ min: 0, max: 4_000_000 }),
        gap: pick([' ', '  ', '\t', '   ']),
        tgid: pick(['', '(  123) ', '(-----) ']),
        cpu: pick(['[000]', '[12]', '[]', '[0a]']),
        flags: pick(['', ' d....', ' d..2.', ' ...1.', ' .N..', ' d.h*.', ' dd', '  d...']),
        ts: pick([' 184503.384328', '  3733.092646', ' 1.5', ' 12', ' .5', ' 1.']),
        colon: pick([': ', ':', ':  ', ' : ']),
        event: pick(['kvm_exit', 'kvm_entry', 'kvm-exit', '<stack trace>', 'kvm:kvm_exit', '']),
        sep: pick([': ', ':', ':    ', ' ']),
        body: pick(['vcpu 0 reason EPT_VIOLATION rip 0x1', 'reason X [1] y', '', '  trailing  ', 'CAN\'T FIND FIELD "rip"vcpu 0', 'a-5 [3] 2.0: ev: z']),
      })
      .map((p) => `${p.lead}${p.comm}-${p.pid}${p.gap}${p.tgid}${p.cpu}${p.flags}${p.ts}${p.colon}${p.event}${p.sep}${p.body}`);
    fc.assert(fc.property(line, (l) => agree(l)), { seed: 9, numRuns: 3000 });
  });
});

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
