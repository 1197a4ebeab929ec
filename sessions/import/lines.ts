/**
 * Trace text lines → records. One record is one trace event: who emitted it (comm, pid, cpu),
 * when (the timestamp text, seconds), and what (event name and its payload text).
 *
 * The three flavours' prefixes (see ../../docs/import.md) are tried in turn, then the hand-
 * trimmed forms mail authors leave (`comm-pid: event: payload`, `event: payload`). The
 * `LineAssembler` feeds lines through, strips mail quote markers, rejoins wrapped records and
 * stack traces, and sorts what is left into ignored (headers, comments, separators) and
 * unparseable lines.
 */

export interface TraceRecord {
  /** 1-based line number of the record's first line. */
  lineNo: number;
  /** Thread name as printed ('' when the text has none). */
  comm: string;
  /** Thread id (the `-pid` of ftrace, perf's tid); -1 when the text has none. */
  pid: number;
  /** Thread group (process) id when the text has it (`record-tgid`, perf `pid/tid`). */
  tgid?: number;
  /** Host CPU; -1 when the text has none. */
  cpu: number;
  /** Timestamp text in seconds (`184503.384328`); '' when the columns were trimmed. */
  ts: string;
  /** `kvm`, `kvmmmu`, ... when the text names it (perf). */
  system?: string;
  /** Event name (`kvm_exit`), or `stack_trace` for a `<stack trace>` record. */
  event: string;
  /** The event's text after `event:`, with wrapped continuation lines appended. */
  body: string;
  /** Lines joined into this record (0 for a one-line record). */
  joined: number;
}

/** The text flavours, and the sources of decoded records (records.ts): trace-cmd's binary file and a live capture. */
export type Flavour = 'ftrace' | 'trace-cmd' | 'perf' | 'trace.dat' | 'capture' | 'unknown';

// raw ftrace and trace-cmd report: `comm-pid [(tgid)] [cpu] [flags] ts: event: payload`
const FT =
  /^\s*(.{0,256}?)-(\d+)\s{1,64}(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:([.a-zA-Z0-9]{4,5})\s+)?(\d+\.\d+):\s+(?:(\w+):(?=\s|$)|(<(?:user )?stack trace>))\s*(.*)$/;
// perf script (and perf-prof): `[date time] comm pid[/tid] [flags] [cpu] ts: sys:event: payload`
const PERF =
  /^\s*(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+)?(.{0,256}?)\s{1,64}(\d+)(?:\/(\d+))?\s{1,64}(?:([.a-zA-Z0-9]{4,5})\s+)?\[(\d+)\]\s+(\d+\.\d+):\s+(\w+):(\w+):\s*(.*)$/;
// columns after comm-pid trimmed by hand: `comm-pid: event: payload` / `comm-pid event: payload`
const TRIMMED = /^\s*(\S.{0,256}?)-(\d+):?\s{1,64}(\w+):\s*(.*)$/;
// every prefix column stripped: `event: payload`
const STRIPPED = /^\s*(\w+):\s*(.*)$/;
// a record cut right after its timestamp (a mail client wrapped it there)
const PREFIX_ONLY = /^\s*(?:\S.{0,256}?-\d+\s{1,64}(?:\[\d+\]\s+)?|\S.{0,256}?\s{1,64}\d+\s{1,64}\[\d+\]\s+)(?:[.a-zA-Z0-9]{4,5}\s+)?\d+\.\d+:\s*$/;

/** Event names accepted in the trimmed and stripped forms, where anything else is prose. */
const TRACE_EVENT_NAME = /^(?:kvm\w*|fast_page_fault|vcpu_match_mmio|mark_mmio_spte|handle_mmio_page_fault|check_mmio_spte)$/;

const CANT_FIND = /CAN'T FIND FIELD "[^"]*"|<CANT FIND FIELD [^>]*>/g;
const ANNOTATION = /\s+<-{2,}.*$/;

/** Clean a payload: plugin-mismatch artefacts, author arrows, trailing spaces. */
export function cleanBody(body: string): string {
  if (body.includes('FIND FIELD')) body = body.replace(CANT_FIND, '');
  if (body.includes('<--')) body = body.replace(ANNOTATION, '');
  const last = body.charCodeAt(body.length - 1);
  return last === 32 || last === 9 || body.charCodeAt(0) === 32 ? body.trim() : body;
}

/** Parse one line as a record, or undefined. `perfFirst` tries the perf prefix first. */
export function parseRecord(line: string, lineNo: number, perfFirst = false): TraceRecord | undefined {
  // Without leading blanks, and with the comm bounded (`.{0,256}?`), no regular expression
  // here backtracks more than linearly on a long run of blanks (a hostile or broken line).
  // (A hand-written prefix scanner was tried: it cost more CPU than these expressions.)
  const c0 = line.charCodeAt(0);
  if (c0 === 32 || c0 === 9) line = line.trimStart();
  if (line.includes('[')) {
    const r = perfFirst ? (parsePerf(line, lineNo) ?? parseFt(line, lineNo)) : (parseFt(line, lineNo) ?? parsePerf(line, lineNo));
    if (r) return r;
  }
  if (!line.includes(':')) return undefined;
  let m = TRIMMED.exec(line);
  if (m && TRACE_EVENT_NAME.test(m[3]!))
    return { lineNo, comm: m[1]!.trim(), pid: Number(m[2]), cpu: -1, ts: '', event: m[3]!, body: cleanBody(m[4]!), joined: 0 };
  m = STRIPPED.exec(line);
  if (m && TRACE_EVENT_NAME.test(m[1]!)) return { lineNo, comm: '', pid: -1, cpu: -1, ts: '', event: m[1]!, body: cleanBody(m[2]!), joined: 0 };
  return undefined;
}

/**
 * The comm column of an ftrace-style line, without the buffer name `trace-cmd report` puts
 * before each record of a tracefs instance (`myinst:      harness-3247 [001] ...`): a name, a
 * colon and blanks. (A comm with a colon has no blank after it: `kworker/u8:2`.)
 */
function ftComm(text: string): string {
  const comm = text.trim();
  const colon = comm.indexOf(': ');
  return colon > 0 && /^[\w.-]+:\s+\S/.test(comm) ? comm.slice(colon + 1).trim() : comm;
}

/** raw ftrace / trace-cmd: `comm-pid [(tgid)] [cpu] [flags] ts: event: payload`, and `<stack trace>`. */
function parseFt(line: string, lineNo: number): TraceRecord | undefined {
  const m = FT.exec(line);
  if (!m) return undefined;
  const tgid = m[3] !== undefined && /^\d+$/.test(m[3]) ? Number(m[3]) : undefined;
  const rec: TraceRecord = {
    lineNo,
    comm: ftComm(m[1]!),
    pid: Number(m[2]),
    cpu: Number(m[4]),
    ts: m[6]!,
    event: m[7] ?? 'stack_trace',
    body: m[8] ? m[9]! : cleanBody(m[9]!),
    joined: 0,
  };
  if (tgid !== undefined) rec.tgid = tgid;
  return rec;
}

/** perf script (and perf-prof): `[date time] comm pid[/tid] [flags] [cpu] ts: sys:event: payload`. */
function parsePerf(line: string, lineNo: number): TraceRecord | undefined {
  const m = PERF.exec(line);
  if (!m) return undefined;
  const rec: TraceRecord = {
    lineNo,
    comm: m[1]!.trim(),
    pid: Number(m[3] ?? m[2]),
    cpu: Number(m[5]),
    ts: m[6]!,
    system: m[7]!,
    event: m[8]!,
    body: cleanBody(m[9]!),
    joined: 0,
  };
  if (m[3] !== undefined) rec.tgid = Number(m[2]);
  return rec;
}

// The columns after a known prefix (`comm-pid [cpu] ` / `comm pid [cpu] `), read with the prefix
// taken from the cache below; the same groups as the tails of FT and PERF.
// The payload is the rest of the line (`(.*)$` of FT and PERF: no line terminator in it, see restOf).
const FT_REST = /(?:[.a-zA-Z0-9]{4,5}\s+)?(\d+\.\d+):\s+(?:(\w+):(?=\s|$)|(<(?:user )?stack trace>))\s*/y;
const PERF_REST = /(\d+\.\d+):\s+(\w+):(\w+):\s*/y;

/** The payload from `from` to the end, or undefined where `(.*)$` would not match (a `\r`, U+2028, U+2029 in it). */
function restOf(line: string, from: number): string | undefined {
  const body = line.slice(from);
  return body.includes('\r') || body.includes('\u2028') || body.includes('\u2029') ? undefined : body;
}

/** What a line's prefix up to its `[cpu]` column says: the same for every line of that thread on that CPU. */
interface Prefix {
  comm: string;
  pid: number;
  tgid: number | undefined;
  cpu: number;
}

/**
 * A text (a chunk of lines) whose records' payloads need no check each (restOf, cleanBody):
 * none holds a CR, U+2028, U+2029, `FIND FIELD` or `<--`. Called once per chunk by readLines:
 * the same searches inlined into the per-line code cost up to tens of milliseconds a chunk.
 */
export function isPlain(text: string): boolean {
  return text.indexOf('\r') < 0 && text.indexOf('\u2028') < 0 && text.indexOf('\u2029') < 0 && text.indexOf('FIND FIELD') < 0 && text.indexOf('<--') < 0;
}

const MAX_PREFIXES = 4096;


/** `\s` of a regular expression, for one UTF-16 code unit. */
function isSpace(c: number): boolean {
  if (c === 32 || c === 9) return true;
  if (c < 128) return c >= 10 && c <= 13;
  return /\s/.test(String.fromCharCode(c));
}

/**
 * The end of a line's prefix: after the first `]` and the blanks that follow it, or -1. The
 * prefix of a record is the same text on every line its thread writes on one CPU, so its
 * columns are parsed once and looked up by that text.
 */
function prefixEnd(line: string): number {
  const close = line.indexOf(']');
  if (close < 0) return -1;
  let k = close + 1;
  while (k < line.length && isSpace(line.charCodeAt(k))) k++;
  return k;
}

/**
 * Parses records like `parseRecord`, but reads the prefix columns (`comm-pid [cpu]`) of a line
 * it has seen before from a cache keyed by their text, so only the timestamp, event and
 * payload are matched. The cache is only used for the flavour's first expression (FT, or PERF
 * when perf is first), and only for prefixes whose first `[` is the CPU column and whose first
 * `]` closes it: the expression's choice of comm and pid depends then on the prefix text alone
 * (the lazy comm takes the shortest split of it that matches, and every split uses that `[`),
 * and the rest of the line is matched by the same tail. Any other line goes to `parseRecord`.
 */
class RecordParser {
  private readonly prefixes = new Map<string, Prefix>();
  /** The prefix text of the last line parseRange read, and its columns. */
  private lastKey = '';
  private lastPrefix: Prefix | undefined;
  /** The text parseRange last read, and the first `]` in it at or after the line it read. */
  private text = '';
  private close = -1;
  private closeFrom = 0;
  constructor(readonly perfFirst: boolean) {}

  /**
   * The record on line [start, end) of `text` (a chunk of many lines) where its prefix is
   * cached and the rest is an event's (flags, timestamp, `event:`, payload): exactly what
   * `parse` makes of that line, read in place without a copy of the line (the tail by FT_REST,
   * sticky in the chunk: hand-written scans of it cost more). Undefined where this cannot tell:
   * the caller parses the line.
   * `plain`: `text` holds no `\r`, U+2028, U+2029, `FIND FIELD` or `<--` (see restOf, cleanBody).
   */
  parseRange(text: string, start: number, end: number, lineNo: number, plain: boolean): TraceRecord | undefined {
    if (this.perfFirst) return undefined;
    let p: Prefix | undefined;
    let q: number;
    const key = this.lastKey;
    // (a slice and === cost a third of startsWith(key, start) on a long text)
    if (key !== '' && text.slice(start, start + key.length) === key) {
      p = this.lastPrefix!;
      q = start + key.length;
      // prefixEnd would take the blanks after the key too
      if (q < end && isSpace(text.charCodeAt(q))) return undefined;
    } else {
      // the first `]` of the line: found once per chunk and line, never past the chunk
      if (text !== this.text || start < this.closeFrom || this.close < start) {
        this.text = text;
        this.closeFrom = start;
        const c = text.indexOf(']', start);
        this.close = c < 0 ? text.length : c;
      }
      const close = this.close;
      if (close >= end) return undefined;
      q = close + 1;
      while (q < end && isSpace(text.charCodeAt(q))) q++;
      const k = text.slice(start, q);
      p = this.prefixes.get(k);
      if (!p) return undefined;
      this.lastKey = k;
      this.lastPrefix = p;
    }
    // FT_REST, sticky in the chunk: `\s` can reach past the line's end only where the line ends
    // in blanks (the long way then)
    FT_REST.lastIndex = q;
    const m = FT_REST.exec(text);
    if (!m || m[2] === undefined || FT_REST.lastIndex > end) return undefined;
    q = FT_REST.lastIndex;
    let body = text.slice(q, end);
    if (plain) {
      // (the payload starts after the blanks, so only its end can need trimming)
      const last = text.charCodeAt(end - 1);
      if (last === 32 || last === 9) body = cleanBody(body);
    } else {
      if (body.includes('\r') || body.includes('\u2028') || body.includes('\u2029')) return undefined;
      body = cleanBody(body);
    }
    const rec: TraceRecord = { lineNo, comm: p.comm, pid: p.pid, cpu: p.cpu, ts: m[1]!, event: m[2], body, joined: 0 };
    if (p.tgid !== undefined) rec.tgid = p.tgid;
    return rec;
  }

  parse(line: string, lineNo: number): TraceRecord | undefined {
    const end = prefixEnd(line);
    if (end > 0) {
      const p = this.prefixes.get(line.slice(0, end));
      if (p) {
        const r = this.perfFirst ? this.perfTail(line, end, p, lineNo) : this.ftTail(line, end, p, lineNo);
        if (r) return r;
      }
    }
    const r = parseRecord(line, lineNo, this.perfFirst);
    // learn the prefix of a record the flavour's first expression read
    if (r && end > 0 && r.ts !== '' && (r.system !== undefined) === this.perfFirst && this.prefixes.size < MAX_PREFIXES && !r.comm.includes('[')) {
      const open = line.indexOf('[');
      if (open >= 0 && open < line.indexOf(']')) this.prefixes.set(line.slice(0, end), { comm: r.comm, pid: r.pid, tgid: r.tgid, cpu: r.cpu });
    }
    return r;
  }

  private ftTail(line: string, end: number, p: Prefix, lineNo: number): TraceRecord | undefined {
    FT_REST.lastIndex = end;
    const m = FT_REST.exec(line);
    if (!m) return undefined;
    const body = restOf(line, FT_REST.lastIndex);
    if (body === undefined) return undefined;
    const rec: TraceRecord = {
      lineNo,
      comm: p.comm,
      pid: p.pid,
      cpu: p.cpu,
      ts: m[1]!,
      event: m[2] ?? 'stack_trace',
      body: m[3] ? body : cleanBody(body),
      joined: 0,
    };
    if (p.tgid !== undefined) rec.tgid = p.tgid;
    return rec;
  }

  private perfTail(line: string, end: number, p: Prefix, lineNo: number): TraceRecord | undefined {
    PERF_REST.lastIndex = end;
    const m = PERF_REST.exec(line);
    if (!m) return undefined;
    const body = restOf(line, PERF_REST.lastIndex);
    if (body === undefined) return undefined;
    const rec: TraceRecord = {
      lineNo,
      comm: p.comm,
      pid: p.pid,
      cpu: p.cpu,
      ts: m[1]!,
      system: m[2]!,
      event: m[3]!,
      body: cleanBody(body),
      joined: 0,
    };
    if (p.tgid !== undefined) rec.tgid = p.tgid;
    return rec;
  }
}

/** Lines that are known not to be records and are not worth reporting. */
function isIgnorable(t: string): boolean {
  const c = t.charCodeAt(0);
  if (c === 35 /* # */) return true;
  if (t === '--' || /^\.{3,}$/.test(t)) return true;
  if (/^cpus=\d+$/.test(t) || /^CPU \d+ is empty$/.test(t)) return true;
  if (c === 91 /* [ */ && /^\[[^\]]*\][#$] /.test(t)) return true; // shell prompt
  if (/^version = \d/.test(t) || /^CPU\d+ data recorded at offset/.test(t)) return true; // trace-cmd report -i headers
  return false;
}

export interface SkippedLine {
  line: number;
  text: string;
}

export interface AssemblerStats {
  lines: number;
  records: number;
  /** Lines that are neither records nor known non-record lines. */
  skipped: number;
  /** Headers, comments, blank lines, separators, shell prompts, elisions. */
  ignored: number;
  /** Continuation lines appended to the record before them. */
  rejoined: number;
  /** Quote markers (`> `) removed. */
  unquoted: number;
}

/** An assembler's state between two lines (LineAssembler.handOver). */
export interface AssemblerState {
  pending: TraceRecord | undefined;
  pendingPrefix: { text: string; lineNo: number } | undefined;
  stats: AssemblerStats;
}

const MAX_JOIN = 6;
const MAX_BODY = 4096;
const MAX_STACK = 64;

/**
 * Feeds lines in order; calls `emit` with each complete record. Call `end()` after the last
 * line. Keeps at most one pending record, so memory does not grow with the input.
 */
export class LineAssembler {
  readonly stats: AssemblerStats = { lines: 0, records: 0, skipped: 0, ignored: 0, rejoined: 0, unquoted: 0 };
  /** The first unparseable lines (capped). */
  readonly skippedLines: SkippedLine[] = [];
  private pending: TraceRecord | undefined;
  private pendingPrefix: { text: string; lineNo: number } | undefined;
  private parser = new RecordParser(false);

  /** Try the perf prefix before the ftrace one (a perf script file). */
  get perfFirst(): boolean {
    return this.parser.perfFirst;
  }
  set perfFirst(v: boolean) {
    if (v !== this.parser.perfFirst) this.parser = new RecordParser(v);
  }

  constructor(
    private readonly emit: (r: TraceRecord) => void,
    private readonly maxSkippedListed = 100,
  ) {}

  private flush(): void {
    const p = this.pending;
    if (p) {
      this.pending = undefined;
      this.stats.records++;
      this.emit(p);
    }
  }

  private skip(lineNo: number, text: string): void {
    this.stats.skipped++;
    if (this.skippedLines.length < this.maxSkippedListed) this.skippedLines.push({ line: lineNo, text: printable(text.slice(0, 160)) });
  }

  push(raw: string, lineNo: number): void {
    this.stats.lines++;
    let line = raw;
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (line.charCodeAt(0) === 62 /* > */) {
      line = line.replace(/^(?:>\s?)+/, '');
      this.stats.unquoted++;
    }
    if (this.pendingPrefix) {
      const prefix = this.pendingPrefix;
      this.pendingPrefix = undefined;
      const rec = line.trim() ? parseRecord(prefix.text + ' ' + line.trim(), prefix.lineNo, this.perfFirst) : undefined;
      if (rec) {
        rec.joined = 1;
        this.stats.rejoined++;
        this.pending = rec;
        return;
      }
      this.skip(prefix.lineNo, prefix.text);
    }
    if (line.length > 65536) {
      this.flush();
      this.skip(lineNo, line);
      return;
    }
    // records first: most lines are one, and they need no trimmed copy
    const rec = this.parser.parse(line, lineNo);
    if (rec) {
      this.flush();
      this.pending = rec;
      return;
    }
    const trimmed = line.trim();
    if (trimmed === '') {
      this.flush();
      this.stats.ignored++;
      return;
    }
    const p = this.pending;
    if (p && p.event === 'stack_trace' && trimmed.startsWith('=> ')) {
      if (p.joined < MAX_STACK) {
        p.body = p.body ? p.body + ' ' + trimmed : trimmed;
        p.joined++;
      }
      this.stats.rejoined++;
      return;
    }
    if (isIgnorable(trimmed)) {
      this.flush();
      this.stats.ignored++;
      return;
    }
    if (PREFIX_ONLY.test(trimmed)) {
      this.flush();
      this.pendingPrefix = { text: line.trimEnd(), lineNo };
      return;
    }
    // A wrapped continuation: only onto a record, a few lines at most, and never a line that
    // looks like a table row (column padding) or prose of its own.
    if (p && p.event !== 'stack_trace' && p.joined < MAX_JOIN && !trimmed.includes('  ') && p.body.length + trimmed.length < MAX_BODY) {
      p.body = cleanBody(p.body ? p.body + ' ' + trimmed : trimmed);
      p.joined++;
      this.stats.rejoined++;
      return;
    }
    this.flush();
    this.skip(lineNo, line);
  }

  /**
   * `push(text.slice(start, end), lineNo)`, for a line that is part of a bigger text (a chunk
   * of the file): the common record lines are read in place (RecordParser.parseRange). `plain`:
   * isPlain(text), which the caller knows (it is the same for every line of a chunk).
   */
  pushRange(text: string, start: number, end: number, lineNo: number, plain: boolean): void {
    // (push's own steps first: a cut prefix to rejoin, an over-long line, a CR, quote markers)
    if (!this.pendingPrefix && end - start <= 65536 && text.charCodeAt(start) !== 62 && text.charCodeAt(end - 1) !== 13) {
      const rec = this.parser.parseRange(text, start, end, lineNo, plain);
      if (rec) {
        this.stats.lines++;
        this.flush();
        this.pending = rec;
        return;
      }
    }
    this.push(text.slice(start, end), lineNo);
  }

  /** What the next line depends on (a record that may still grow, a cut prefix): to go on in another assembler (resume). */
  handOver(): AssemblerState {
    return { pending: this.pending, pendingPrefix: this.pendingPrefix, stats: { ...this.stats } };
  }

  /** Go on from where another assembler stopped (its handOver); its listed lines count against this one's cap. */
  resume(state: AssemblerState): void {
    this.pending = state.pending;
    this.pendingPrefix = state.pendingPrefix;
    Object.assign(this.stats, state.stats);
  }

  end(): void {
    if (this.pendingPrefix) {
      this.skip(this.pendingPrefix.lineNo, this.pendingPrefix.text);
      this.pendingPrefix = undefined;
    }
    this.flush();
  }
}

/** Control characters and the like shown as `\xNN`, so a listed line is safe to print. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/g, (c) => (c === '\ufffd' ? '?' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')));
}
