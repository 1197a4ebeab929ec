/**
 * Progress of a long `mmu-lab record` on stderr (stdout keeps its one result line): a bar
 * redrawn in place on a terminal, a plain line every few seconds otherwise (a log, CI). Quiet
 * for the first second, so short recordings print exactly what they always did.
 */
import { fmtInt } from '../format.ts';

export interface RecordProgressOptions {
  /** Where to write (stderr). */
  write: (text: string) => void;
  /** A terminal: redraw one line with \r; otherwise print lines. */
  tty: boolean;
  vms: number;
  /** The per-VM event bound, or undefined when lifted (then there is no fraction to draw). */
  maxEvents?: number;
  /** Wall ms between plain lines (default 5000; MMU_LAB_PROGRESS_MS in the environment overrides). */
  lineEveryMs?: number;
  now?: () => number;
}

const BAR_WIDTH = 24;
const QUIET_MS = 1000;
const TTY_EVERY_MS = 100;


export class RecordProgress {
  private readonly started: number;
  private last = -Infinity;
  private drawn = false;
  private readonly lineEveryMs: number;
  private readonly now: () => number;

  constructor(private readonly o: RecordProgressOptions) {
    this.now = o.now ?? (() => performance.now());
    this.started = this.now();
    const env = Number(process.env.MMU_LAB_PROGRESS_MS);
    this.lineEveryMs = o.lineEveryMs ?? (Number.isFinite(env) && env > 0 ? env : 5000);
  }

  /** Called often (every few thousand events); draws only when it is time. */
  update(events: number, vm: number, vmEvents: number): void {
    const now = this.now();
    const elapsed = now - this.started;
    if (elapsed < Math.min(QUIET_MS, this.lineEveryMs)) return;
    if (now - this.last < (this.o.tty ? TTY_EVERY_MS : this.lineEveryMs)) return;
    this.last = now;
    const rate = events / Math.max(elapsed / 1000, 1e-3);
    const where = `VM ${vm + 1}/${this.o.vms}`;
    const counts = `${fmtInt(events)} events, ${fmtInt(Math.round(rate))}/s, ${(elapsed / 1000).toFixed(1)} s`;
    if (this.o.tty) {
      let bar = '';
      if (this.o.maxEvents !== undefined) {
        // Of the bound, not of the run: a workload that ends earlier jumps to the next VM.
        const fraction = Math.min(1, (vm + Math.min(1, vmEvents / this.o.maxEvents)) / this.o.vms);
        const full = Math.round(fraction * BAR_WIDTH);
        bar = `[${'#'.repeat(full)}${'.'.repeat(BAR_WIDTH - full)}] ${(fraction * 100).toFixed(0).padStart(3)} % of the bound  `;
      }
      this.o.write(`\r${bar}${where}  ${counts}\x1b[K`);
      this.drawn = true;
    } else {
      this.o.write(`recording: ${where}, ${counts}\n`);
    }
  }

  /** Clear the bar before the result line. */
  done(): void {
    if (this.o.tty && this.drawn) this.o.write('\r\x1b[K');
  }
}
