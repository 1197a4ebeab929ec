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

export class Speculation {
  spec: Speculated | undefined;
  /** The records held back until the session starts; undefined once it has. */
  held: ImportRecord[] | undefined = [];
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
    for (const r of this.held!) imp.record(r);
    this.held = undefined;
  }

  record(r: ImportRecord): void {
    this.scan.record(r);
    if (this.diverged) return;
    if (this.held) {
      this.held.push(r);
      if (this.held.length >= this.after) this.start();
    } else if (this.followLayout && this.scan.version !== this.spec!.version) this.diverged = true;
    else this.spec!.imp.record(r);
  }
}
