/** The line assembler: rejoining wrapped records, and keeping prose and tables out of them. */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LineAssembler, isPlain, parseRecord, type TraceRecord } from './lines.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

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

  it("drops the buffer name trace-cmd report puts before an instance's records, keeps a comm's own colon", () => {
    const { recs } = assemble(
      'importtext:          harness-32476 [001]  2155.513387: kvm_fpu:              load\nimporttext: kvm-nx-lpage-re-9857  [000]  1212.604185: kvm_fpu: unload\n kworker/u8:2-77 [000] 1.000001: kvm_fpu: load',
    );
    expect(recs.map((r) => [r.comm, r.pid])).toEqual([
      ['harness', 32476],
      ['kvm-nx-lpage-re', 9857],
      ['kworker/u8:2', 77],
    ]);
  });

  it('does not glue table rows or prose onto a record', () => {
    const { recs, asm } = assemble('q-1 [000] 1.000001: kvm_entry: vcpu 0\n  36.22%  reason MSR_WRITE rip 0x1 info 0 0\nSome prose  with two spaces');
    expect(recs.map((r) => r.body)).toEqual(['vcpu 0']);
    expect(asm.skippedLines.map((s) => s.line)).toEqual([2, 3]);
  });

  // The assembler reads the prefix of a line it has seen before from a cache; every record
  // must still be what parseRecord makes of the line alone.
  it('reads every one-line record as parseRecord does, prefix cache or not', () => {
    const tricky = [
      'CPU 0/KVM-5780 [003] d.... 10.000001: kvm_entry: vcpu 0, rip 0x1',
      'CPU 0/KVM-5780 [003] d.... 10.000002: kvm_exit: vcpu 0 reason HLT rip 0x1 info1 0x0',
      'CPU 0/KVM-5780 [003] d.... 10.000003 kvm_exit: vcpu 0 reason HLT', // no colon after ts: not this form
      'CPU 0/KVM-5780 [003] d.... 10.000004: kvm_exit: a\u2028b', // (.*)$ stops at U+2028
      'CPU 0/KVM-5780 [003] d.... 10.000005: kvm_exit: a\rb',
      'CPU 0/KVM-5780 [003]  d.... 10.000006: kvm_entry: vcpu 0', // more blanks after ]
      'CPU 0/KVM-5780 [003] 10.000007: kvm_entry: vcpu 0', // flags gone
      'CPU 0/KVM-5780 [003] d.... 10.000008: <stack trace>',
      'a-1 [2] 3.4: x-9 [001] ..... 5.000001: kvm_entry: vcpu 1',
      'a-1 [2] 3.4: x-9 [001] ..... 5.000002: kvm_entry vcpu 1',
      'k]w-77 [001] ..... 5.000003: kvm_entry: vcpu 2',
      'k]w-77 [001] ..... 5.000004: kvm_entry: vcpu 2',
      '  q 12 3456 [001] 5.000005: kvm:kvm_entry: vcpu 3',
      '  q 12 3456 [001] 5.000006: kvm:kvm_entry: vcpu 3',
      '  q 12 3456 [001] 5.000007: kvm_entry: vcpu 3',
      'CPU 1/KVM-5781 (  5000) [004] d.h2. 10.000009: kvm_entry: vcpu 1',
      'CPU 1/KVM-5781 (  5000) [004] d.h2. 10.000010: kvm_exit: CAN\'T FIND FIELD "x" reason HLT',
      // the in-place reading's edges (pushRange): blanks, flags, names and ends it must read as the expressions do
      'CPU 0/KVM-5780 [003] d.... 10.000011: kvm_exit:',
      'CPU 0/KVM-5780 [003] d.... 10.000012: kvm_exit:   ',
      'CPU 0/KVM-5780 [003] d.... 10.000013: kvm_exit: vcpu 0 \t',
      'CPU 0/KVM-5780 [003] d.... 10.000014: kvm_exit:\u00a0vcpu 0',
      'CPU 0/KVM-5780 [003] d.... 10.000015: kvm_exit:\u00a0',
      'CPU 0/KVM-5780 [003] d.... 10.000016:\u00a0kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] d....\u00a010.000017: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] d.... 10.000018: kvm_exit:vcpu 0',
      'CPU 0/KVM-5780 [003] d.... 10.: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] d.... .5: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] d..... 10.000019: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] d.. 10.000020: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] 1234 10.000021: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] 12345 10.000022: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] 10.000023:\tkvm_exit:\tvcpu 0',
      'CPU 0/KVM-5780 [003] d.... 10.000024: kvm_ex-it: vcpu 0',
      'CPU 0/KVM-5780 [003] d.... 10.000025: kvm_exit: vcpu 0 <-- mine',
      'CPU 0/KVM-5780 [003] d.... 10.000026: kvm_exit: vcpu 0\u000b',
      'CPU 0/KVM-5780 [003] d.... 10.000027: \u00e9v: x',
      'CPU 0/KVM-5780 [003]\u00a0d.... 10.000028: kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] d.... 10.000029: <user stack trace>',
      'CPU 0/KVM-5780 [003] d.... 10.000030: kvm_exit: a\u2029b',
      // a record cut after its timestamp, or after its event, then the next line: never one record read across the two
      'CPU 0/KVM-5780 [003] d.... 10.000031:\nkvm_exit: vcpu 0 reason HLT',
      'CPU 0/KVM-5780 [003] d.... 10.000032: kvm_exit:\n   kvm_exit: vcpu 0',
      'CPU 0/KVM-5780 [003] d....\n10.000033: kvm_exit: vcpu 0',
    ]
      // a plain record after each, so that a line the cache took wrongly is not hidden by a join
      .flatMap((l, i) => [l, `other-${i + 1} [009] ..... 20.${String(i).padStart(6, '0')}: kvm_entry: vcpu 9`])
      .join('\n');
    // (and without the lines that make the text not plain: the other branch of the in-place reading)
    const plainTricky = tricky.split('\n').filter((l) => isPlain(l)).join('\n');
    expect(isPlain(tricky) || !isPlain(plainTricky)).toBe(false);
    const texts = [tricky, plainTricky, ...readdirSync(FIXTURES).filter((f) => f.endsWith('.txt')).map((f) => readFileSync(FIXTURES + f, 'utf8'))];
    let compared = 0;
    for (const text of texts)
      for (const perfFirst of [false, true]) {
        const recs: TraceRecord[] = [];
        const asm = new LineAssembler((r) => recs.push(r));
        asm.perfFirst = perfFirst;
        const lines = text.split('\n');
        lines.forEach((l, i) => asm.push(l, i + 1));
        asm.end();
        // the same lines read in place from the whole text (pushRange), as readLines hands them over
        const inPlace: TraceRecord[] = [];
        const asm2 = new LineAssembler((r) => inPlace.push(r));
        asm2.perfFirst = perfFirst;
        const plain = isPlain(text);
        for (let i = 0, start = 0; i < lines.length; start += lines[i]!.length + 1, i++) asm2.pushRange(text, start, start + lines[i]!.length, i + 1, plain);
        asm2.end();
        expect(inPlace).toEqual(recs);
        expect(asm2.stats).toEqual(asm.stats);
        for (const r of recs) {
          if (r.joined) continue;
          // (the assembler removes a trailing CR and mail quote markers first)
          const line = lines[r.lineNo - 1]!.replace(/\r$/, '').replace(/^(?:>\s?)+/, '');
          expect(r).toEqual(parseRecord(line, r.lineNo, perfFirst));
          compared++;
        }
      }
    expect(compared).toBeGreaterThan(500);
  });
});
