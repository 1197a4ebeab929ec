/**
 * The guest kernel's operations the workloads and scripts use: page-table stores (where the
 * MMU may trap them), MOV to CR3, INVLPG, control-register writes, the #PF handler with
 * demand paging and copy-on-write, fork, exec and exit. They run on the machine
 * (core/machine.ts) and reach the MMU only through the `Mmu` interface; the VM loop and the
 * access path they call are core/vm.ts.
 */
import type { Process } from './guestOs.ts';
import { Machine, hex } from './machine.ts';
import type { ControlRegister, Mmu } from './mmu.ts';
import { ACCESS_WRITE, PF_P, PF_W, PTE_W, canonical, entryBytes, loadPdptes, type AccessKind } from './paging.ts';

export abstract class GuestKernel extends Machine {
  /** The MMU design virtualizing this VM's memory. */
  abstract readonly mmu: Mmu;
  /** One guest access at `va` (core/vm.ts): true if it completed, false on #PF / #GP. */
  abstract access(va: number, acc: AccessKind, cpl: number): boolean;

  // ---- guest page-table writes ------------------------------------------------------

  /** The guest OS writes one of its paging-structure entries (the MMU may trap it). */
  writeGuestEntry(gpa: number, level: number, lo: number, hi: number, va?: number): void {
    this.mmu.guestWrite(gpa, entryBytes(this.ctl.mode), lo, hi, level, va);
  }

  /**
   * The guest zeroes a frame it reuses. Each entry it clears is reported (level 0: the frame
   * is no longer a paging structure) so page tables can be rebuilt from the events. If the
   * frame is still a shadowed page table, the stores trap and are emulated until flood
   * detection zaps its shadow pages (seed 000: "a page table may have been recycled into a
   * regular page").
   */
  protected zeroFrame(frame: number): void {
    if (!this.mem.hasContents(frame)) return;
    const bytes = entryBytes(this.ctl.mode);
    for (let gpa = frame * 4096; gpa < (frame + 1) * 4096; gpa += bytes) {
      const [lo, hi] = this.os.readEntry(gpa);
      if (lo || hi || this.mmu.traps(frame)) this.writeGuestEntry(gpa, 0, 0, 0);
    }
  }

  // ---- guest OS operations the workloads use ---------------------------------------

  /** The lowest free pid above 0 (0 is the script's first process). */
  newPid(): number {
    let pid = 1;
    while (this.os.procs.has(pid)) pid++;
    return pid;
  }

  /**
   * MOV to CR3: flush non-global TLB entries; the MMU switches address spaces (under shadow
   * paging this exits, CR_ACCESS). In PAE mode the CPU loads the four PDPTE registers from
   * the new PDPT first; a present PDPTE with a reserved bit makes the instruction take #GP
   * and change nothing: CR3, the PDPTE registers and the TLB keep their old contents, so the
   * old address space keeps working (SDM 4.4.1, MOV to CR3). Returns false on #GP.
   */
  switchTo(p: Process): boolean {
    const cpu = this.cur;
    if (this.ctl.mode === 'pae') {
      const bad = loadPdptes(this.mem, p.cr3, this.pdpteScratch);
      if (bad >= 0) {
        this.tick(this.cost.accessNs);
        this.emitter.emit({ type: 'guest_os', action: 'gp', pid: p.pid, detail: `MOV to CR3: PDPTE ${bad} has a reserved bit set; CR3 stays ${hex(cpu.cr3)}` });
        this.mmu.generalProtection?.(cpu, 'cr3');
        return false;
      }
      cpu.pdpte.set(this.pdpteScratch);
    }
    cpu.proc = p;
    cpu.cr3 = p.cr3;
    cpu.tlb.flush(false);
    this.tick(this.cost.accessNs);
    this.mmu.loadCr3(cpu);
    return true;
  }

  /** PDPTEs read by a MOV to CR3 before it commits. */
  private readonly pdpteScratch = new Uint32Array(8);

  invlpg(va: number): void {
    if (!canonical(this.ctl.mode, va)) return; // INVLPG of a non-canonical address is a NOP (SDM, INVLPG)
    this.mmu.invlpg(this.cur, va);
  }

  /**
   * The guest changes its paging controls (MOV to CR0, MOV to CR4, WRMSR to EFER: one write
   * per register that changes). The vCPU's TLB is flushed whole (more than the SDM requires
   * for some of these bits, which is always allowed: a TLB may drop entries at any time),
   * so every mode sees the new rules at once. Returns the names of the bits that changed.
   */
  setControls(change: { wp?: boolean; pse?: boolean; smep?: boolean; smap?: boolean; nxe?: boolean }): string[] {
    const cpu = this.cur;
    const all: string[] = [];
    const writes: Array<[ControlRegister, Array<'wp' | 'pse' | 'smep' | 'smap' | 'nxe'>]> = [['cr0', ['wp']], ['cr4', ['pse', 'smep', 'smap']], ['efer', ['nxe']]];
    for (const [register, keys] of writes) {
      const changed = keys.filter((k) => change[k] !== undefined && change[k] !== this.ctl[k]);
      if (!changed.length) continue;
      for (const k of changed) this.ctl[k] = change[k] as boolean;
      const names = changed.map((k) => `${register}.${k === 'nxe' ? 'nx' : k}=${this.ctl[k] ? 1 : 0}`);
      all.push(...names);
      this.emitter.emit({ type: 'guest_os', action: 'set-controls', pid: cpu.proc?.pid ?? 0, detail: names.join(' ') });
      cpu.tlb.flush(true);
      cpu.walkCaches.flushGuest();
      this.tick(this.cost.accessNs);
      this.mmu.controlsChanged(cpu, register);
    }
    return all;
  }

  /**
   * The guest kernel stores `bytes` bytes of `value` at `gpa` in one of its page tables
   * (the `pteWrite` script step): part of an entry or across two, which the MMU must handle
   * as it handles any store into a page table (a shadow MMU zaps on a misaligned one).
   */
  pteWrite(gpa: number, bytes: number, value: bigint, level: number): void {
    this.mmu.guestWrite(gpa, bytes, Number(value & 0xffffffffn), Number((value >> 32n) & 0xffffffffn), level);
  }

  /** The guest #PF handler of a workload: demand-fault or copy-on-write; false = segfault. */
  handlePf(va: number, acc: AccessKind, code: number): boolean {
    const p = this.cur.proc as Process;
    this.tick(this.cost.guestPfNs);
    const vpn = Math.floor(va / 4096);
    if (!(code & PF_P)) {
      if (!p.inRegion(va)) return false;
      const pte = this.os.ensurePte(p, va);
      const frame = this.os.allocFrame();
      this.tick(this.cost.zeroPageNs);
      p.pages.set(vpn, frame);
      const [lo, hi] = this.os.userPte(frame, true, acc === ACCESS_WRITE);
      this.writeGuestEntry(pte, 1, lo, hi, va);
      return true;
    }
    if (code & PF_W && p.cow.has(vpn)) return this.breakCow(p, va, vpn);
    return false;
  }

  private breakCow(p: Process, va: number, vpn: number): boolean {
    const old = p.pages.get(vpn) as number;
    let frame = old;
    if ((this.os.refs[old] as number) > 1) {
      frame = this.os.allocFrame();
      this.tick(this.cost.copyPageNs);
      this.os.releaseFrame(old);
      p.pages.set(vpn, frame);
    }
    p.cow.delete(vpn);
    const [lo, hi] = this.os.userPte(frame, true, true);
    this.writeGuestEntry(this.os.findPte(p, va), 1, lo, hi, va);
    this.invlpg(va);
    return true;
  }

  /** Access with the OS fixing demand and COW faults; false if the process would be killed. */
  touch(va: number, acc: AccessKind): boolean {
    for (let tries = 0; tries < 4; tries++) {
      if (this.access(va, acc, 3)) return true;
      if (this.stopped || this.gp || !this.handlePf(va, acc, this.faultCode)) return false;
    }
    return false;
  }

  /** fork: the child shares every page copy-on-write; the parent's ptes lose W (trapped writes). */
  fork(parent: Process): Process {
    const child = this.os.createProcess(this.newPid());
    child.regions = parent.regions.map(([s, e]) => [s, e]);
    this.tick(this.cost.syscallNs);
    this.emitter.emit({ type: 'guest_os', action: 'fork', pid: child.pid, detail: `from ${parent.pid}` });
    this.mmu.enterLazy?.(); // copy_page_range runs in lazy MMU mode
    for (const [vpn, frame] of parent.pages) {
      const va = vpn * 4096;
      const [lo, hi] = this.os.userPte(frame, false, false);
      this.writeGuestEntry(this.os.ensurePte(child, va), 1, lo, hi);
      const ppte = this.os.findPte(parent, va);
      const [plo, phi] = this.os.readEntry(ppte);
      if (plo & PTE_W) this.writeGuestEntry(ppte, 1, plo & ~PTE_W, phi);
      child.pages.set(vpn, frame);
      this.os.refs[frame] = (this.os.refs[frame] as number) + 1;
      parent.cow.add(vpn);
      child.cow.add(vpn);
      this.tick(this.cost.forkPteNs);
    }
    this.mmu.leaveLazy?.();
    this.mmu.addressSpaceCreated?.(child);
    // The parent's write-protected ptes must not stay writable in its TLB: reload CR3.
    if (this.cur.proc === parent) this.switchTo(parent);
    return child;
  }

  exitProcess(p: Process, next: Process | null): void {
    this.emitter.emit({ type: 'guest_os', action: 'exit', pid: p.pid });
    this.tick(this.cost.syscallNs);
    if (next) this.switchTo(next);
    this.mmu.addressSpaceReleased?.(p);
    this.os.destroy(p);
  }

  newProcess(regions: Array<[number, number]>): Process {
    const p = this.os.createProcess(this.newPid());
    p.regions = regions;
    this.emitter.emit({ type: 'guest_os', action: 'create', pid: p.pid });
    return p;
  }
}
