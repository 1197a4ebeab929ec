/**
 * Exporters: JSONL (the DESIGN.md contract), CSV (one table per event type) and Chrome trace
 * event JSON (opens in Perfetto UI and chrome://tracing). Each streams through `out`, in the
 * session's canonical event order, so memory stays bounded however large the session.
 */
import type { SessionReader } from './reader.ts';

export type Out = (text: string) => void;

/** Batches small writes into ~64 KiB pieces. */
export function buffered(out: Out): { write: Out; end: () => void } {
  let parts: string[] = [];
  let size = 0;
  return {
    write(s) {
      parts.push(s);
      size += s.length;
      if (size >= 1 << 16) {
        out(parts.join(''));
        parts = [];
        size = 0;
      }
    },
    end() {
      if (parts.length) out(parts.join(''));
      parts = [];
      size = 0;
    },
  };
}

export function exportJsonl(session: SessionReader, out: Out): number {
  const b = buffered(out);
  let n = 0;
  for (const e of session.iterate()) {
    b.write(JSON.stringify(session.toJson(e)) + '\n');
    n++;
  }
  b.end();
  return n;
}

function csvCell(v: string | number | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return String(v);
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The CSV columns of an event type: the header fields, then the type's fields in table order. */
export function csvColumns(session: SessionReader, type: string): string[] {
  const t = session.eventTypes.find((x) => x.name === type);
  return ['t', 'vm', 'vcpu', ...(t?.fields.map((f) => f.name) ?? [])];
}

/** The event types that occur in the session, in table order. */
export function presentTypes(session: SessionReader): string[] {
  const byType = session.summary().eventsByType;
  return session.eventTypes.map((t) => t.name).filter((n) => (byType[n] ?? 0) > 0);
}

/** One CSV table (header row + rows) of the events of `type`. */
export function exportCsvTable(session: SessionReader, type: string, out: Out): number {
  const cols = csvColumns(session, type);
  const b = buffered(out);
  b.write(cols.join(',') + '\n');
  let n = 0;
  for (const e of session.iterate()) {
    if (e.type !== type) continue;
    const j = session.toJson(e);
    b.write(cols.map((c) => csvCell(j[c])).join(',') + '\n');
    n++;
  }
  b.end();
  return n;
}

/**
 * Every table to one stream: each table starts with a line `# <type>` and ends with a blank
 * line (use `-o DIR` for one plain file per type).
 */
export function exportCsvAll(session: SessionReader, out: Out): number {
  let n = 0;
  for (const type of presentTypes(session)) {
    out(`# ${type}\n`);
    n += exportCsvTable(session, type, out);
    out('\n');
  }
  return n;
}

/**
 * Chrome trace event format (JSON object form): VMs are processes, vCPUs threads. Events with
 * a `duration` are complete ("X") slices named after the exit reason (or the type); every
 * other event is a thread-scoped instant ("i"). `ts` and `dur` are in µs, as the format wants.
 */
export function exportChrome(session: SessionReader, out: Out): number {
  const b = buffered(out);
  b.write('{"displayTimeUnit":"ns","otherData":' + JSON.stringify({ producer: session.header.producer, scenario: session.header.scenarioName }));
  b.write(',"traceEvents":[\n');
  let first = true;
  const put = (o: object) => {
    b.write((first ? '' : ',\n') + JSON.stringify(o));
    first = false;
  };
  // metadata first (there is always some, so every event line below can start with a comma)
  for (let vm = 0; vm < session.header.vms; vm++) {
    put({ name: 'process_name', ph: 'M', pid: vm, tid: 0, args: { name: `VM ${vm}` } });
    put({ name: 'process_sort_index', ph: 'M', pid: vm, tid: 0, args: { sort_index: vm } });
    for (let vcpu = 0; vcpu < (session.header.vcpus[vm] ?? 0); vcpu++) {
      put({ name: 'thread_name', ph: 'M', pid: vm, tid: vcpu, args: { name: `vCPU ${vcpu}` } });
      put({ name: 'thread_sort_index', ph: 'M', pid: vm, tid: vcpu, args: { sort_index: vcpu } });
    }
  }
  // per type: does it have a duration (an `ns` field named duration)?
  const timed = new Set(session.eventTypes.filter((t) => t.fields.some((f) => f.name === 'duration' && f.kind === 'ns')).map((t) => t.name));
  let n = 0;
  for (const e of session.iterate()) {
    const args = session.toJson(e) as Record<string, string | number>;
    args.index = n;
    const ts = e.t / 1000;
    const head = `,\n{"cat":${JSON.stringify(e.type)},"pid":${e.vm},"tid":${e.vcpu},"ts":${ts},`;
    if (timed.has(e.type)) {
      const dur = ((e as unknown as { duration: number }).duration ?? 0) / 1000;
      const name = typeof args.reason === 'string' ? args.reason : typeof args.lock === 'string' ? `${e.type}:${args.lock}` : e.type;
      b.write(`${head}"ph":"X","dur":${dur},"name":${JSON.stringify(name)},"args":${JSON.stringify(args)}}`);
    } else {
      b.write(`${head}"ph":"i","s":"t","name":${JSON.stringify(e.type)},"args":${JSON.stringify(args)}}`);
    }
    n++;
  }
  b.write('\n]}\n');
  b.end();
  return n;
}
