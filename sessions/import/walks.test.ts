/**
 * A guest walk's gpte_writes when walks repeat (walkEvents keeps what it found of the last
 * walks: WalkMemo, the per-slot lookups): the answers are worked out by hand from 4-level
 * paging (Intel SDM vol. 3, 4.5: an entry of level l lies in the table its parent points to,
 * at index bits 12+9(l-1)..20+9(l-1) of the VA, 8 bytes per entry).
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../../core/events.ts';
import { GuestEntries, OpenWalk, walkEvents, type WalkLane } from './walks.ts';

/** One walk of `va` on `lane` reading `ptes` (hex, top level first, levels 4..1): its events. */
function walk(w: OpenWalk, lane: WalkLane, guest: GuestEntries, t: number, va: number, ptes: string[]): MmuEvent[] {
  w.start(t, va, 0);
  ptes.forEach((hex, i) => expect(w.element(t + i + 1, 4 - i, hex, null)).toBe(true));
  w.open = false;
  const out: MmuEvent[] = [];
  const n = walkEvents(w, lane, guest, out);
  return out.slice(0, n);
}

/** The gpte_writes among `events` as [gpa, old, new] (hex). */
const writes = (events: MmuEvent[]) => events.flatMap((e) => (e.type === 'gpte_write' ? [[e.gpa.toString(16), e.old.toString(16), e.new.toString(16)]] : []));

describe('walkEvents on repeated walks', () => {
  // CR3 -> 0x1000; PML4[0] = 0x2023 -> PDPT 0x2000; PDPT[0] = 0x3023 -> PD 0x3000; PD[0] = 0x4023 -> PT 0x4000;
  // VA 0x10000: PT index 0x10, the PTE at 0x4000 + 0x10 * 8 = 0x4080 (every entry has A = 0x20 set: no bits to tell)
  const PTES = ['2023', '3023', '4023', '10023'];
  const GPAS = ['1000', '2000', '3000', '4080'];

  it('tells an entry again only when its value changed since, whoever saw the change', () => {
    const guest = new GuestEntries();
    const w0 = new OpenWalk();
    const w1 = new OpenWalk();
    const lane0: WalkLane = { vm: 0, vcpu: 0, root: 0x1000 };
    const lane1: WalkLane = { vm: 0, vcpu: 1, root: 0x1000 };

    // first sight of every entry: old = new
    expect(writes(walk(w0, lane0, guest, 100, 0x10000, PTES))).toEqual(GPAS.map((g, i) => [g, PTES[i], PTES[i]]));
    // the same entries again, same page: nothing new
    const again = walk(w0, lane0, guest, 200, 0x10008, PTES);
    expect(again.map((e) => e.type)).toEqual(['page_walk']);
    // another vCPU of the VM reads a new PTE value at 0x4080
    expect(writes(walk(w1, lane1, guest, 300, 0x10010, ['2023', '3023', '4023', '11023']))).toEqual([['4080', '10023', '11023']]);
    // vCPU 0 reads the old value again: a change, though its own last walk read the same
    expect(writes(walk(w0, lane0, guest, 400, 0x10000, PTES))).toEqual([['4080', '11023', '10023']]);
    // a page in another table slot (PT index 0x11 -> 0x4088): a first sight there, the upper levels known
    expect(writes(walk(w0, lane0, guest, 500, 0x11000, PTES))).toEqual([['4088', '10023', '10023']]);
    // back at 0x10000: known
    expect(walk(w0, lane0, guest, 600, 0x10000, PTES).map((e) => e.type)).toEqual(['page_walk']);
  });

  it('follows a new root (CR3 write) to new gpas', () => {
    const guest = new GuestEntries();
    const w = new OpenWalk();
    const lane: WalkLane = { vm: 0, vcpu: 0, root: 0x1000 };
    walk(w, lane, guest, 100, 0x10000, PTES);
    lane.root = 0x9000;
    // the PML4 entry now lies at 0x9000; the tables below are the same
    expect(writes(walk(w, lane, guest, 200, 0x10000, PTES))).toEqual([['9000', '2023', '2023']]);
  });
});
