/**
 * Live capture of this host's KVM: the kvm and kvmmmu tracepoints in a tracefs instance of our
 * own, its per-CPU binary pages read from trace_pipe_raw as they fill, decoded by the same page
 * decoder as a trace.dat (sessions/tracedat) and handed to the import as records (a
 * RecordSource), so the session grows while the guest runs. The instance is removed when the
 * capture stops, when the process exits (normally, by a signal, or on an uncaught error), and
 * a later capture removes one left by a capture that was killed.
 */
import { closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { FieldRecord, FieldRecordBatch, RecordSource } from '../import/records.ts';
import { FormatTable, parseHeaderEvent, parseHeaderPage } from '../tracedat/formats.ts';
import { PackCore, PageError } from '../tracedat/packCore.ts';
import { RecordMaker, emptyRecord } from '../tracedat/reader.ts';
import { fieldRecord } from '../tracedat/datRecords.ts';
import { readdirSync, readFileSync } from 'node:fs';
import {
  checkHost,
  createInstance,
  instanceCpus,
  readText,
  removeInstance,
  removeStaleInstances,
  setPids,
  tracingOn,
  type CheckOptions,
  type Instance,
} from './tracefs.ts';

export interface CaptureOptions extends CheckOptions {
  /** Only these processes (and the threads and children they start). */
  pids?: number[];
  /** Per-CPU ring buffer (KiB); default 8 MiB, so a burst between two reads is not lost. */
  bufferKb?: number;
  /** How often the per-CPU pipes are read (ms). */
  pollMs?: number;
}

interface Thread {
  comm: string;
  tgid?: number;
}

/** `/proc/<pid>/status`: the thread's name and process, read once while it lives. */
function threadOf(pid: number): Thread | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const comm = /^Name:\s*(.*)$/m.exec(s)?.[1];
    const tgid = /^Tgid:\s*(\d+)$/m.exec(s)?.[1];
    return comm === undefined ? undefined : { comm, tgid: tgid ? Number(tgid) : undefined };
  } catch {
    return undefined;
  }
}

const exitHandlers = new Set<() => void>();
let handlersInstalled = false;

/** One cleanup on every way out of the process (SIGKILL aside: the next capture handles that). */
function onProcessExit(fn: () => void): () => void {
  exitHandlers.add(fn);
  if (!handlersInstalled) {
    handlersInstalled = true;
    const runAll = () => {
      for (const f of exitHandlers) {
        try {
          f();
        } catch {
          // best effort on the way out
        }
      }
      exitHandlers.clear();
    };
    process.on('exit', runAll);
    for (const sig of ['SIGTERM', 'SIGHUP'] as const)
      process.on(sig, () => {
        runAll();
        process.exit(128 + (sig === 'SIGTERM' ? 15 : 1));
      });
  }
  return () => exitHandlers.delete(fn);
}

export interface CaptureStats {
  pages: number;
  events: number;
  /** Events the kernel lost (its buffer was full before we read it). */
  lost: number;
  damagedPages: number;
}

export class Capture {
  readonly stats: CaptureStats = { pages: 0, events: 0, lost: 0, damagedPages: 0 };
  readonly removedStale: string[];
  private readonly instance: Instance;
  private readonly fds: { cpu: number; fd: number }[] = [];
  /** The trace.dat reader's page decoder, one stream: each page read is decoded there. */
  private readonly core: PackCore;
  private readonly littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  private readonly maker: RecordMaker;
  private readonly pageSize: number;
  private readonly threads = new Map<number, Thread | undefined>();
  private savedCmdlines: Map<number, string> | undefined;
  private stopping = false;
  private closed = false;
  private readonly unhook: () => void;
  private wake: (() => void) | undefined;
  readonly systems: string[];

  constructor(private readonly options: CaptureOptions = {}) {
    const host = checkHost(options);
    this.removedStale = removeStaleInstances(host.tracefs);
    this.instance = createInstance(host.tracefs, { pids: options.pids, bufferKb: options.bufferKb ?? 8192 });
    this.unhook = onProcessExit(() => this.close());
    try {
      this.systems = this.instance.systems;
      const events = new FormatTable();
      for (const system of this.systems) {
        const dir = join(this.instance.dir, 'events', system);
        for (const name of readdirSync(dir)) {
          const f = join(dir, name, 'format');
          if (existsSync(f)) events.add(readText(f), system);
        }
      }
      const page = parseHeaderPage(readText(join(host.tracefs, 'events', 'header_page')));
      const header = parseHeaderEvent(readText(join(host.tracefs, 'events', 'header_event')));
      const subbuf = join(this.instance.dir, 'buffer_subbuf_size_kb');
      this.pageSize = existsSync(subbuf) ? Number(readText(subbuf).trim()) * 1024 : page.dataOffset + page.dataSize;
      this.core = new PackCore(1, page, header, this.littleEndian, this.pageSize);
      this.maker = new RecordMaker(events, this.littleEndian, (pid) => this.thread(pid)?.comm);
      for (const cpu of instanceCpus(this.instance))
        this.fds.push({ cpu, fd: openSync(join(this.instance.dir, 'per_cpu', `cpu${cpu}`, 'trace_pipe_raw'), constants.O_RDONLY | constants.O_NONBLOCK) });
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Where the capture's instance is (for messages and tests). */
  get instanceDir(): string {
    return this.instance.dir;
  }

  /** Follow these processes from now on (a command started for the capture). */
  follow(pids: number[]): void {
    setPids(this.instance, pids);
  }

  start(): void {
    tracingOn(this.instance, true);
  }

  /** Stop recording: the pages still in the buffer are read, then the session is closed. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  private thread(pid: number): Thread | undefined {
    if (this.threads.has(pid)) return this.threads.get(pid);
    let t = threadOf(pid);
    if (!t) {
      this.savedCmdlines ??= new Map(
        readText(join(this.instance.dir, '..', '..', 'saved_cmdlines'))
          .split('\n')
          .map((l) => [Number(l.slice(0, l.indexOf(' '))), l.slice(l.indexOf(' ') + 1)] as [number, string]),
      );
      const comm = this.savedCmdlines.get(pid);
      if (comm) t = { comm };
    }
    this.threads.set(pid, t);
    return t;
  }

  /** Read every full or partial page waiting in the per-CPU pipes; records in time order. */
  drain(): FieldRecord[] {
    const out: FieldRecord[] = [];
    const buf = Buffer.allocUnsafe(this.pageSize);
    const core = this.core;
    const x = core.x;
    const rec = emptyRecord();
    for (const { cpu, fd } of this.fds) {
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buf, 0, this.pageSize, null);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') break;
          throw e;
        }
        if (n <= 0) break;
        // the records read their fields later (and keep them): each page gets its own copy
        const page = Buffer.from(buf.subarray(0, n));
        const view = new DataView(page.buffer, page.byteOffset, n);
        const base = core.load(0, page);
        let count: number;
        try {
          count = core.decode(0, 0, n);
        } catch (e) {
          if (!(e instanceof PageError)) throw e;
          this.stats.damagedPages++;
          continue;
        }
        this.stats.pages++;
        const lost = x.page_lost_();
        if (lost > 0) this.stats.lost += lost;
        for (let i = 0; i < count; i++) {
          x.step(); // the page's events in order (one stream: no merge)
          const r = this.maker.fill(rec, view, x.at_ptr_() - base, x.at_len_(), x.at_ts_(), cpu);
          const fr = fieldRecord(r, this.littleEndian);
          const t = this.thread(r.pid);
          if (t?.tgid !== undefined) fr.tgid = t.tgid;
          out.push(fr);
        }
        if (n < this.pageSize) break;
      }
    }
    // each CPU's pages are in order; between CPUs, this read's records are merged by time
    out.sort((a, b) => Number(a.ts) - Number(b.ts));
    this.stats.events += out.length;
    return out;
  }

  private async *batches(signal?: AbortSignal): AsyncGenerator<FieldRecordBatch> {
    const pollMs = this.options.pollMs ?? 100;
    let bytes = 0;
    try {
      while (!this.stopping && !signal?.aborted) {
        const records = this.drain();
        bytes += records.length;
        if (records.length) yield { records, bytes: 0 };
        if (this.stopping || signal?.aborted) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, pollMs);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
      // what is left in the buffer when recording stops is kept
      tracingOn(this.instance, false);
      const rest = this.drain();
      if (rest.length) yield { records: rest, bytes: 0 };
    } finally {
      this.close();
    }
    void bytes;
  }

  /** The capture as a record source for importRecords; reading it starts nothing: call start(). */
  source(name = 'capture'): RecordSource {
    return {
      file: name,
      bytes: 0,
      flavour: 'capture',
      evidence: [`live capture of ${this.systems.join(' + ')} tracepoints`, `tracefs instance ${this.instance.dir.replace(/^.*\/instances\//, '')}`],
      rereadable: false,
      read: (signal) => this.batches(signal),
    };
  }

  /** Close the pipes and remove the instance (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopping = true;
    for (const { fd } of this.fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.fds.length = 0;
    removeInstance(this.instance.dir);
    this.unhook();
  }
}
