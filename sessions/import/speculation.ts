/**
 * The one-pass import's speculation on the layout, shared by the text pipeline (importer.ts) and
 * the decoded-record pipeline (records.ts). The first `after` records are held back and scanned;
 * the session is then started with the layout they give, and every later record is both scanned
 * and imported. When the scan of a later record changes what the layout or the time origin
 * depend on (`Scan.version`), the speculation has `diverged` and the caller reads its source a
 * second time with what the scan found, so the result never depends on the speculation.
 */
import type { SessionWriter } from '../writer.ts';
import { resolveLayout, type Layout, type Scan } from './layout.ts';
import { Importer } from './mapping.ts';
import type { ImportRecord } from './predecode.ts';
import type { Isa } from './reasons.ts';

export interface Speculated {
  writer: SessionWriter;
  imp: Importer;
  layout: Layout;
  version: number;
  isa: Isa | undefined;
}

/** Records a source can make again by their index (a trace.dat's packed batch, records.ts). */
export interface RemadeRecords {
  readonly count: number;
  /** Record `i`, numbered `n`; an object the source may reuse for the next one. */
  importRecord(i: number, n: number, keep: false): ImportRecord;
}

/**
 * Records held back that their source can make again (records `from` to `from + count - 1` of
 * `batch`, the first numbered `first + from`): the speculation keeps the run, not an object per
 * record, so holding back allocates nothing that outlives a young-generation collection (16 k
 * kept records did: they were copied, promoted and then marked by a full collection).
 */
export class HeldRun {
  count = 0;
  constructor(
    readonly batch: RemadeRecords,
    readonly from: number,
    readonly first: number,
  ) {}
}

export class Speculation {
  spec: Speculated | undefined;
  /** The records (or runs of records) held back until the session starts; undefined once it has. */
  held: (ImportRecord | HeldRun)[] | undefined = [];
  private heldCount = 0;
  /** The number of the record whose scan or import failed in batch() (0: none did). */
  failedAt = 0;
  /** A later record changed the layout: only scanning goes on (after = 0: scanning only). */
  diverged: boolean;

  /**
   * @param openWriter starts the speculative session with the layout the scan gives so far
   * @param followLayout false for a source that cannot be read again (live capture): the
   *   layout is fixed once the session starts
   */
  constructor(
    private readonly scan: Scan,
    private readonly after: number,
    private readonly openWriter: (layout: Layout) => SessionWriter,
    private readonly followLayout = true,
  ) {
    this.diverged = after === 0;
  }

  /** Still holding records back (a record passed in now is kept, not reused). */
  get holding(): boolean {
    return this.held !== undefined && !this.diverged;
  }

  start(): void {
    const { scan } = this;
    const layout = resolveLayout(scan);
    const writer = this.openWriter(layout);
    const imp = new Importer(writer, layout, scan.t0 ?? { sec: 0, ns: 0 }, scan.isa);
    this.spec = { writer, imp, layout, version: scan.version, isa: scan.isa };
    const held = this.held!;
    this.held = undefined;
    for (const h of held) {
      if (h instanceof HeldRun) replayRun(imp, h.batch, h.from, h.from + h.count, h.first);
      else imp.record(h);
    }
  }

  /** As record(), for a record that nothing else keeps while the speculation holds it. */
  record(r: ImportRecord): void {
    this.scan.record(r);
    if (this.diverged) return;
    if (this.held) {
      this.held.push(r);
      if (++this.heldCount >= this.after) this.start();
    } else if (this.followLayout && this.scan.version !== this.spec!.version) this.diverged = true;
    else this.spec!.imp.record(r);
  }

  /**
   * As record() for each record of `batch`, the first numbered `first`: a source that can make
   * its records again (RemadeRecords) reuses one object for them all. Each phase (held back,
   * imported, only scanned) runs in a loop of its own, so that the code V8 optimizes for one
   * is not thrown away at the next (no type feedback for what the other phase runs). When a
   * record fails, `failedAt` is its number.
   */
  batch(batch: RemadeRecords, first: number): void {
    let i = this.holding ? this.holdRun(batch, first) : 0;
    if (i < batch.count && !this.diverged) {
      const { imp, version } = this.spec!;
      i = this.importRun(batch, i, batch.count, first, this.scan, imp, this.followLayout ? version : -1);
    }
    if (i < batch.count) this.scanRun(batch, i, first);
  }

  /** Scan records of `batch` and hold them back until the session starts; the index after the last one held. */
  private holdRun(batch: RemadeRecords, first: number): number {
    const run = new HeldRun(batch, 0, first);
    this.held!.push(run);
    const scan = this.scan;
    const n = batch.count;
    let i = 0;
    try {
      for (; i < n; i++) {
        scan.record(batch.importRecord(i, first + i, false));
        run.count++;
        if (++this.heldCount >= this.after) {
          this.start();
          return i + 1;
        }
      }
    } catch (e) {
      this.failedAt = first + i;
      throw e;
    }
    return n;
  }

  /**
   * Import records `from` to `to - 1` of `batch` into `imp`, scanning each first. Stops after a
   * record that changes the layout from `version` (-1: the layout is followed no more), the
   * speculation having then diverged; the index after the last one read. (What it reads of the
   * speculation comes in arguments: V8 optimizes this loop while it runs the first time, and a
   * property read before the loop would then have no type feedback, throwing that code away at
   * the next call.)
   */
  private importRun(batch: RemadeRecords, from: number, to: number, first: number, scan: Scan, imp: Importer, version: number): number {
    let i = from;
    try {
      for (; i < to; i++) {
        const r = batch.importRecord(i, first + i, false);
        scan.record(r);
        if (version >= 0 && scan.version !== version) {
          this.diverged = true;
          return i + 1;
        }
        imp.record(r);
      }
    } catch (e) {
      this.failedAt = first + i;
      throw e;
    }
    return to;
  }

  /** Only scan the rest of `batch` (the speculation has diverged). */
  private scanRun(batch: RemadeRecords, from: number, first: number): void {
    const scan = this.scan;
    let i = from;
    try {
      for (; i < batch.count; i++) scan.record(batch.importRecord(i, first + i, false));
    } catch (e) {
      this.failedAt = first + i;
      throw e;
    }
  }
}

/**
 * Import the held records `from` to `to - 1` of `batch` (scanned when they were read) into
 * `imp`. A loop apart from importRun's: code V8 optimized for this one never saw a scan, and
 * would be thrown away at importRun's first.
 */
function replayRun(imp: Importer, batch: RemadeRecords, from: number, to: number, first: number): void {
  for (let i = from; i < to; i++) imp.record(batch.importRecord(i, first + i, false));
}
