/**
 * Which text flavour a trace is, from its content: raw ftrace (`trace`, `trace_pipe`),
 * `trace-cmd report` or `perf script`. Binary captures (trace.dat, perf.data) are recognised
 * so the user is told which command turns them into text.
 */
import type { Flavour } from './lines.ts';

export interface Detection {
  flavour: Flavour;
  /** Set when the bytes are a binary capture or not text at all. */
  binary?: 'trace.dat' | 'perf.data' | 'binary';
  /** Why, in a few words (for `mmu-lab info` and error messages). */
  evidence: string[];
}

const FT_PREFIX = /^\s*.{0,256}?-\d+\s{1,64}(?:\(\s*(?:\d+|-+)\)\s+)?\[\d+\]\s+(?:([.a-zA-Z0-9]{4,5})\s+)?\d+\.\d+:\s+(\w+):( {2,})?/;
const PERF_PREFIX = /^\s*(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+)?.{0,256}?\s{1,64}\d+(?:\/\d+)?\s{1,64}(?:[.a-zA-Z0-9]{4,5}\s+)?\[\d+\]\s+\d+\.\d+:\s+\w+:\w+:/;
// every prefix column stripped by hand: `kvm_exit:   reason ...` (padding means trace-cmd report)
const STRIPPED = /^\s*(?:kvm\w*|fast_page_fault):( {2,})?/;
const PLUGIN_TEXT = /:\s+(?:reason \S+ rip 0x[0-9a-f]+ info [0-9a-f]+ [0-9a-f]+$|(?:new|existing) sp gfn )/;

/** Detect from the first bytes of a file (64 KiB is plenty). */
export function detectFlavour(head: Uint8Array): Detection {
  const ascii = (n: number) => String.fromCharCode(...head.subarray(0, n));
  if (head.length >= 10 && head[0] === 0x17 && head[1] === 0x08 && head[2] === 0x44 && ascii(10).slice(3) === 'tracing')
    return { flavour: 'unknown', binary: 'trace.dat', evidence: ['trace-cmd binary (trace.dat)'] };
  if (head.length >= 8 && (ascii(8) === 'PERFILE2' || ascii(8) === 'PERFFILE'))
    return { flavour: 'unknown', binary: 'perf.data', evidence: ['perf binary (perf.data)'] };
  const n = Math.min(head.length, 65536);
  let ctl = 0;
  for (let i = 0; i < n; i++) {
    const c = head[i]!;
    if (c === 0 || (c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12)) ctl++;
  }
  if (n > 0 && ctl > n / 100 + 2) return { flavour: 'unknown', binary: 'binary', evidence: [`${ctl} control bytes in the first ${n}`] };
  return detectText(Buffer.from(head.buffer, head.byteOffset, n).toString('utf8'));
}

/** Detect from text (the first lines of a file). */
export function detectText(text: string): Detection {
  let perf = 0;
  let flags = 0;
  let noFlags = 0;
  let padded = 0;
  let plugin = 0;
  let header = false;
  let cpus = false;
  let stripped = 0;
  let strippedPadded = 0;
  let strippedPlugin = 0;
  const evidence: string[] = [];
  const lines = text.split('\n', 2000);
  for (const raw of lines) {
    // leading blanks trimmed so that no prefix expression backtracks over them
    const line = raw.replace(/^(?:>\s?)+/, '').trimStart();
    if (/^# tracer: /.test(line) || /^#\s+TASK-PID/.test(line) || /^# entries-in-buffer/.test(line)) header = true;
    if (/^cpus=\d+\s*$/.test(line) || /^CPU \d+ is empty\s*$/.test(line)) cpus = true;
    if (PERF_PREFIX.test(line)) {
      perf++;
      continue;
    }
    const m = FT_PREFIX.exec(line);
    if (m) {
      if (m[1] !== undefined) flags++;
      else noFlags++;
      if (m[3] !== undefined) padded++;
      if (PLUGIN_TEXT.test(line)) plugin++;
      continue;
    }
    const s = STRIPPED.exec(line);
    if (s) {
      stripped++;
      if (s[1] !== undefined) strippedPadded++;
      if (PLUGIN_TEXT.test(line)) strippedPlugin++;
    }
  }
  if (perf > 0 && perf >= flags + noFlags) {
    evidence.push(`${perf} perf script records (sys:event)`);
    return { flavour: 'perf', evidence };
  }
  if (header) evidence.push('ftrace header block');
  if (flags) evidence.push(`${flags} records with an irq-flags column`);
  if (cpus) evidence.push('trace-cmd cpus= header');
  if (padded) evidence.push(`${padded} records with padded event names`);
  if (plugin) evidence.push(`${plugin} records in libtraceevent plugin text`);
  if (header || (flags > 0 && flags >= padded)) return { flavour: 'ftrace', evidence };
  if (cpus || padded > 0 || plugin > 0) return { flavour: 'trace-cmd', evidence };
  if (noFlags > 0) {
    evidence.push(`${noFlags} records without flags`);
    return { flavour: 'ftrace', evidence };
  }
  if (stripped > 0) {
    evidence.push(`${stripped} records with their prefix columns stripped`);
    if (strippedPadded > 0 || strippedPlugin > 0) {
      if (strippedPadded) evidence.push(`${strippedPadded} of them with padded event names`);
      if (strippedPlugin) evidence.push(`${strippedPlugin} of them in libtraceevent plugin text`);
      return { flavour: 'trace-cmd', evidence };
    }
    return { flavour: 'ftrace', evidence };
  }
  evidence.push('no record prefix recognised');
  return { flavour: 'unknown', evidence };
}
