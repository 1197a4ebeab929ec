/**
 * TEST ORACLE: what a trace text holds, counted the simple way, with no code shared with the
 * importer (no lines.ts, decode.ts or reasons.ts). The importer tests compare the imported
 * session with these counts, so the two must stay independent: keep this file naive.
 *
 * A record is a line (after `>` quote markers) with a `kvm…:` / `kvmmmu…:` style event token
 * that is not the payload of a `uniq -c` histogram; `<stack trace>` is a record too.
 */

export interface TextRecord {
  line: number;
  event: string;
  /** Thread id when the prefix has one. */
  pid?: number;
  /** Seconds as printed, when the prefix has a timestamp. */
  ts?: string;
  payload: string;
}

export interface TextCounts {
  records: TextRecord[];
  byEvent: Record<string, number>;
  /** kvm_exit records per vCPU id: the payload's `vcpu N`, else the id its thread shows elsewhere. */
  exitsPerVcpu: Record<string, number>;
  /** kvm_exit reason text as printed (`EPT_VIOLATION`, `EXIT_NPF`, `apic_access`). */
  reasons: Record<string, number>;
  /** Lines that are neither records, nor comments/blank/known decoration. */
  unparsed: number[];
  /** Exit durations in ns (to the next kvm_entry of the same thread), when every exit has one. */
  exitDurations?: number[];
  /** Exit times in ns after the earliest timestamp of the file, with their vCPU. */
  exitTimes: string[];
}

const EVENT_NAMES = /^(?:kvm\w*|fast_page_fault|vcpu_match_mmio)$/;

function eventToken(line: string): { at: number; name: string; end: number } | undefined {
  const re = /(?:^|\s)(?:kvm:|kvmmmu:)?([a-z][a-z0-9_]*):(?=\s|$)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (EVENT_NAMES.test(m[1]!)) return { at: m.index, name: m[1]!, end: m.index + m[0].length };
  }
  return undefined;
}

/** Seconds text → integer ns (6 or 9 decimals), as a bigint to stay exact. */
export function secondsToNs(ts: string): bigint {
  const [s, f = ''] = ts.split('.');
  return BigInt(s!) * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9));
}

const bigMin = (a: bigint, b: bigint) => (a < b ? a : b);

export function countText(text: string): TextCounts {
  const lines = text.split('\n');
  const records: TextRecord[] = [];
  const unparsed: number[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').replace(/^(?:>\s*)+/, '');
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    if (t === '--' || /^\.{3,}$/.test(t) || /^cpus=\d+$/.test(t) || /^CPU \d+ is empty$/.test(t) || /^\[[^\]]+\]# /.test(t) || t.startsWith('=> ')) return;
    if (t.includes('<stack trace>')) {
      const pid = /-(\d+)\s+\[/.exec(line);
      records.push({ line: i + 1, event: 'stack_trace', ...(pid ? { pid: Number(pid[1]) } : {}), payload: '' });
      return;
    }
    const tok = eventToken(line);
    const prefix = tok ? line.slice(0, tok.at) : '';
    if (!tok || /^\s*\d+\s*$/.test(prefix)) {
      unparsed.push(i + 1);
      return;
    }
    const rec: TextRecord = { line: i + 1, event: tok.name, payload: line.slice(tok.end).trim() };
    const ftPid = /-(\d+)(?:\s+\[\d+\]|:?\s*$)/.exec(prefix);
    const perfPid = /\s(\d+)\s+(?:[.\w]{4}\s+)?\[\d+\]/.exec(prefix);
    const pid = ftPid ?? perfPid;
    if (pid) rec.pid = Number(pid[1]);
    const ts = /(\d+\.\d+):\s*$/.exec(prefix);
    if (ts) rec.ts = ts[1];
    records.push(rec);
  });

  const byEvent: Record<string, number> = {};
  for (const r of records) byEvent[r.event] = (byEvent[r.event] ?? 0) + 1;

  // A thread's vCPU id: the first `vcpu N` of a kvm_entry / kvm_exit on it. Lines whose
  // prefix columns were stripped all count as one thread (-1).
  const threadVcpu = new Map<number, number>();
  for (const r of records) {
    if (r.event !== 'kvm_entry' && r.event !== 'kvm_exit') continue;
    const v = /^vcpu (\d+)/.exec(r.payload);
    if (v && !threadVcpu.has(r.pid ?? -1)) threadVcpu.set(r.pid ?? -1, Number(v[1]));
  }
  let t0: bigint | undefined;
  for (const r of records) if (r.ts) t0 = t0 === undefined || secondsToNs(r.ts) < t0 ? secondsToNs(r.ts) : t0;

  const exitsPerVcpu: Record<string, number> = {};
  const reasons: Record<string, number> = {};
  const exitTimes: string[] = [];
  const durations: number[] = [];
  let allMatched = true;
  records.forEach((r, k) => {
    if (r.event !== 'kvm_exit') return;
    const own = /^vcpu (\d+)/.exec(r.payload);
    const vcpu = own ? own[1]! : threadVcpu.has(r.pid ?? -1) ? String(threadVcpu.get(r.pid ?? -1)) : '?';
    exitsPerVcpu[vcpu] = (exitsPerVcpu[vcpu] ?? 0) + 1;
    const reason = /reason (.+?) rip /.exec(r.payload);
    const name = reason ? reason[1]! : '?';
    reasons[name] = (reasons[name] ?? 0) + 1;
    // a session's time is a safe integer of ns (about 104 days): later times stop there
    const late = r.ts !== undefined && t0 !== undefined && secondsToNs(r.ts) - t0 >= BigInt(Number.MAX_SAFE_INTEGER);
    if (r.ts && t0 !== undefined) exitTimes.push(`${vcpu}@${bigMin(secondsToNs(r.ts) - t0, BigInt(Number.MAX_SAFE_INTEGER))}`);
    const entry = records.slice(k + 1).find((n) => n.pid === r.pid && (n.event === 'kvm_entry' || n.event === 'kvm_exit'));
    if (entry?.event === 'kvm_entry' && entry.ts && r.ts && !late) durations.push(Number(secondsToNs(entry.ts) - secondsToNs(r.ts)));
    else allMatched = false;
  });
  const out: TextCounts = { records, byEvent, exitsPerVcpu, reasons, unparsed, exitTimes: exitTimes.sort() };
  if (allMatched && durations.length) out.exitDurations = durations.sort((a, b) => a - b);
  return out;
}
