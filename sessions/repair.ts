/**
 * `mmu-lab verify --repair`: write what can be read of a damaged session as a new, clean file.
 * The events are read in canonical order and written again (a lane's events stay in order), with
 * the notes and fresh keyframes; nothing is written in place, and the output appears under its
 * name only when it is complete.
 */
import { renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { appendKeyframes, appendNoteOp } from './annex.ts';
import { openSession, type SessionReader } from './reader.ts';
import { SessionWriter } from './writer.ts';

export interface RepairResult {
  events: number;
  notes: number;
  keyframes: number;
}

export function repairSession(session: SessionReader, out: string): RepairResult {
  const h = session.header;
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.part`);
  try {
    const w = SessionWriter.create(tmp, { scenario: h.scenario, producer: h.producer, seed: h.seed, vcpus: h.vcpus, features: h.features });
    let events = 0;
    try {
      for (const e of session.iterate()) {
        w.append(e);
        events++;
      }
    } finally {
      // a recording that was cut short or stopped stays marked so: the repair keeps what was read, no more
      const why = session.closed ? session.stopMessage : 'the recording was cut short; this file holds what could be read of it (repaired by mmu-lab verify --repair)';
      w.close(session.complete ? { complete: true } : { complete: false, ...(why ? { message: why } : {}) });
    }
    for (const op of session.noteOps) appendNoteOp(tmp, op);
    const fixed = openSession(tmp).session;
    const keyframes = fixed ? appendKeyframes(tmp, fixed) : 0;
    renameSync(tmp, out);
    return { events, notes: session.noteOps.length, keyframes };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
