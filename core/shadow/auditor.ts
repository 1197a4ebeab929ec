/**
 * The MMU auditor: checks the shadow MMU's invariants after each engine step and reports
 * each broken one as an `audit_violation` event. Slow (it scans every shadow page), so it
 * runs only when EngineOptions.audit is on.
 *
 * Invariants (seed 000, DESIGN.md):
 * - a leaf spte never grants more than the guest pte it shadows (present, writable, user,
 *   executable; same frame);
 * - a writable spte never maps a write-protected guest page table;
 * - every present leaf spte is in the rmap of the frame it maps, and only those are;
 * - parent and child links agree both ways;
 * - no present spte maps a frame no memslot backs (MMIO is emulated, never mapped).
 */
import { PTE_D, PTE_HI_NX, PTE_P, PTE_PS, PTE_U, PTE_W, entryBytes, type PagingControls } from '../paging.ts';
import { ACC_U, ACC_W, ACC_X, HOST_GUEST_BASE_FRAME, ShadowPageCache, ShadowPage, controlsOf, frameOf, guestAccess } from './pages.ts';
import type { Machine } from '../machine.ts';
import type { Report } from '../mmu.ts';

export function audit(vm: Machine, mmu: ShadowPageCache, report: Report): void {
  for (const cpu of vm.cpus) {
    cpu.tlb.writableFrames((gfn, va) => {
      if (mmu.isWriteProtected(gfn)) report('stale-tlb', `vCPU ${cpu.id} TLB still maps va 0x${va.toString(16)} writable onto write-protected gfn ${gfn}`);
    });
  }
  for (const sp of mmu.pages.values()) {
    checkLinks(mmu, sp, report);
    if (sp.unsync !== mmu.unsyncGfns.has(sp.gfn) && !sp.direct) report('unsync', `page ${sp.id} (gfn ${sp.gfn}) is ${sp.unsync ? '' : 'not '}unsync but its frame is ${sp.unsync ? 'not ' : ''}marked out of sync`);
    if (sp.unsync && (sp.level !== 1 || sp.direct)) report('unsync', `page ${sp.id} is out of sync but is not a non-direct leaf page`);
    if (sp.level !== 1) continue;
    for (let i = 0; i < 512; i++) {
      const lo = sp.sptes[2 * i] as number;
      if (!(lo & PTE_P)) continue;
      const hi = sp.sptes[2 * i + 1] as number;
      const gfn = frameOf(lo, hi) - HOST_GUEST_BASE_FRAME;
      if (!vm.mmio.hasMemslot(gfn)) report('mmio-mapped', `spte ${sp.id}[${i}] maps gfn 0x${gfn.toString(16)}, which no memslot backs (MMIO must be emulated, never mapped)`);
      if (!mmu.rmapOf(gfn).includes(sp.id * 512 + i)) report('rmap', `spte ${sp.id}[${i}] maps gfn ${gfn} but is missing from its rmap`);
      if (lo & PTE_W && mmu.isWriteProtected(gfn)) report('writable-protected', `spte ${sp.id}[${i}] is writable onto write-protected page table gfn ${gfn}`);
      if (!sp.direct && !sp.unsync) checkAgainstGuest(vm, sp, i, lo, hi, gfn, report); // unsync: stale until invlpg/CR3
    }
  }
}

function checkLinks(mmu: ShadowPageCache, sp: ShadowPage, report: Report): void {
  for (let i = 0; i < 512; i++) {
    const child = sp.children[i] as number;
    if (child < 0) continue;
    const c = mmu.pages.get(child);
    if (!c) report('parent-link', `spte ${sp.id}[${i}] links freed page ${child}`);
    else if (!c.parents.includes(sp.id * 512 + i)) report('parent-link', `page ${child} lacks parent link ${sp.id}[${i}]`);
  }
  for (const ref of sp.parents) {
    const p = mmu.pages.get(Math.floor(ref / 512));
    if (!p || p.children[ref % 512] !== sp.id) report('parent-link', `page ${sp.id} claims parent ${Math.floor(ref / 512)}[${ref % 512}] which does not link it`);
  }
}

/** The guest pte shadowed by entry i of a (non-direct) shadow pt. */
function guestPte(vm: Machine, sp: ShadowPage, i: number): [number, number] {
  const ctl: PagingControls = vm.ctl;
  const gi = ctl.mode === 'nonpae' ? sp.quadrant * 512 + i : i;
  const gpa = sp.gfn * 4096 + gi * entryBytes(ctl.mode);
  return vm.os.readEntry(gpa);
}

function checkAgainstGuest(vm: Machine, sp: ShadowPage, i: number, lo: number, hi: number, gfn: number, report: Report): void {
  const [glo, ghi] = guestPte(vm, sp, i);
  const ctl = controlsOf(vm.ctl, sp); // the controls the page's role was built for
  const where = `spte ${sp.id}[${i}] (shadowing gfn ${sp.gfn})`;
  if (!(glo & PTE_P)) return report('grants-more', `${where} is present but the guest pte is not`);
  if (glo & PTE_PS && sp.level !== 1) return;
  const gframe = ctl.mode === 'nonpae' ? glo >>> 12 : frameOf(glo, ghi);
  if (gframe !== gfn) report('grants-more', `${where} maps gfn ${gfn}, the guest pte maps ${gframe}`);
  const allowed = sp.access & guestAccess(ctl, glo, ghi);
  const wp0 = !ctl.wp && !(lo & PTE_U);
  if (lo & PTE_W && !(allowed & ACC_W) && !wp0) report('grants-more', `${where} is writable, the guest denies writes`);
  if (lo & PTE_W && !(glo & PTE_D)) report('grants-more', `${where} is writable but the guest pte is not dirty`);
  if (lo & PTE_U && !(allowed & ACC_U)) report('grants-more', `${where} is user, the guest says supervisor`);
  if (ctl.nxe && !(hi & PTE_HI_NX) && !(allowed & ACC_X)) report('grants-more', `${where} is executable, the guest says NX`);
}
