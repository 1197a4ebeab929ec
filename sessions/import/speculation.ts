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

/**
 * Records held back that their source can make again (`again(k)`: the run's k-th, an object the
 * source may reuse): the speculation keeps the run, not an object per record, so holding back
 * allocates nothing that outlives a young-generation collection (16 k kept records did: they
 * were copied, promoted and then marked by a full collection).
 */
export class HeldRun {
  count = 0;
  constructor(readonly again: (k: number) => ImportRecord) {}
}

export class Speculation {
  spec: Speculated | undefined;
  /** The records (or runs of records) held back until the session starts; undefined once it has. */
  held: (ImportRecord | HeldRun)[] | undefined = [];
  private heldCount = 0;
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
      if (h instanceof HeldRun) for (let k = 0; k < h.count; k++) imp.record(h.again(k));
      else imp.record(h);
    }
  }

  /**
   * As record(), for a record of `run` (passed to hold() first): while holding back, only the
   * scan reads it now (the object may then be reused), and the run makes it again when the
   * session starts.
   */
  recordAgain(r: ImportRecord, run: HeldRun): void {
    if (!this.holding) return this.record(r);
    this.scan.record(r);
    run.count++;
    if (++this.heldCount >= this.after) this.start();
  }

  /**
   * Hold `run` back (while holding), before its first record is passed to recordAgain: kept
   * apart from recordAgain, whose optimized code a push there (once per batch, first after that
   * code was made) threw away.
   */
  hold(run: HeldRun): void {
    if (this.holding) this.held!.push(run);
  }

  record(r: ImportRecord): void {
    this.scan.record(r);
    if (this.diverged) return;
    if (this.held) {
      this.held.push(r);
      if (++this.heldCount >= this.after) this.start();
    } else if (this.followLayout && this.scan.version !== this.spec!.version) this.diverged = true;
    else this.spec!.imp.record(r);
  }
}
