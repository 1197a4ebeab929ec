/**
 * The recorder: one session file per run, fed by every VM's worker. A thin adapter over
 * sessions/writer.ts so the VM manager does not depend on the writer's exact surface.
 *
 * The file is written as `<name>.part` and renamed to `<name>` when the recording closes, as
 * `mmu-lab record` does (the writer's `atomic` option): a name in the sessions folder is a closed
 * session, and the folder listing (which lists `.mmulab` names only) never offers one mid-write.
 * If a write fails the writer leaves what it wrote under the final name, marked incomplete.
 *
 * The writer buffers events per lane and writes a checksummed chunk every few thousand, or
 * after `FLUSH_INTERVAL_MS` while events keep coming; the recorder's timer also flushes when the
 * workers pause, so a process killed mid-run leaves a `.part` file that opens up to at most
 * `FLUSH_INTERVAL_MS` of wall time before the kill.
 *
 * Closing is two steps: `close` ends the recording (the file is complete and valid from then
 * on), and `addKeyframes` (run by keyframeJobs.ts) then appends keyframes with the same pass as `mmu-lab record`
 * (sessions/annex.ts). The VM manager reports the run ended after the first step, so Stop and
 * shutdown never wait for a replay of the whole session.
 */
import type { MmuEvent } from '../../core/events.ts';
import type { Scenario } from '../../core/scenario.ts';
import { SessionWriter } from '../../sessions/writer.ts';
import { appendKeyframesAsync } from '../../sessions/annex.ts';
import { openSession } from '../../sessions/reader.ts';

export interface Recorder {
  append(event: MmuEvent): void;
  /** End the recording: the last chunks, the index and the footer. */
  close(complete: boolean, message?: string): void;
}

/** Wall time a lane's events may wait in memory (what a crash can lose). */
export const FLUSH_INTERVAL_MS = 250;

export async function openRecorder(path: string, scenario: Scenario, producer: string): Promise<Recorder> {
  const writer = SessionWriter.create(path, { scenario, producer }, { atomic: true, flushMs: FLUSH_INTERVAL_MS });
  let dirty = false;
  const timer = setInterval(() => {
    if (!dirty) return;
    dirty = false;
    try {
      writer.flush();
    } catch {
      // the next append or close reports the problem
    }
  }, FLUSH_INTERVAL_MS);
  timer.unref();
  return {
    append: (event) => {
      writer.append(event);
      dirty = true;
    },
    close: (complete, message) => {
      clearInterval(timer);
      writer.close({ complete, ...(message ? { message } : {}) });
    },
  };
}

/**
 * Append a closed session's keyframes (or the rest of them, after a pass that was cut short).
 * Keyframes follow the footer (they need the final canonical order); without them the reader
 * replays from the start, so a failure here loses nothing.
 */
export async function addKeyframes(path: string, signal?: AbortSignal): Promise<number> {
  // Not in the caller's turn of the event loop: the run's end is reported first, and opening
  // the session and the first slice of the pass cost real time on a large one.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) return 0;
  try {
    const { session } = openSession(path);
    return session?.closed ? await appendKeyframesAsync(path, session, undefined, undefined, signal) : 0;
  } catch {
    // a full disk or a vanished file: the session itself is closed
    return 0;
  }
}
