/**
 * The MMU designs the lab has, and which one a VM's scenario asks for. Adding a design is
 * a folder with a class implementing `Mmu` (core/mmu.ts) and one entry here; the VM loop
 * (core/vm.ts) never names a design.
 */
import type { Machine } from './machine.ts';
import type { Mmu } from './mmu.ts';
import { NestedTdp } from './nested/nestedTdp.ts';
import { NestedShadow } from './nestedshadow/nestedShadow.ts';
import type { VmConfig } from './scenario.ts';
import { ShadowMmu } from './shadow/mmu.ts';
import { Tdp } from './tdp/mmu.ts';
import { XenPv } from './xenpv/xenpv.ts';

interface MmuDesign {
  /** Does the VM's configuration select this design? The first match wins. */
  selects(config: VmConfig): boolean;
  create(m: Machine): Mmu;
}

const DESIGNS: readonly MmuDesign[] = [
  // L1 runs L2 on shadow tables (`mmu.nested.l1Mmu: shadow`): L0 on EPT01 (tdp) or shadowing them (shadow)
  { selects: (c) => c.mmu.nested.enabled && c.mmu.nested.l1Mmu === 'shadow', create: (m) => new NestedShadow(m, m.config.mmu.mode === 'tdp', m.config.mmu.tdp.walkCaches) },
  { selects: (c) => c.mmu.mode === 'shadow', create: (m) => new ShadowMmu(m) },
  { selects: (c) => c.mmu.mode === 'xenpv', create: (m) => new XenPv(m) },
  // nested TDP: an L2 guest on L1's EPT, shadowed by L0 (`mmu.nested.enabled` under tdp)
  { selects: (c) => c.mmu.mode === 'tdp' && c.mmu.nested.enabled, create: (m) => new NestedTdp(m, m.config.mmu.nested.inveptEvery, m.config.mmu.tdp.walkCaches) },
  { selects: (c) => c.mmu.mode === 'tdp', create: (m) => new Tdp(m) },
];

export function createMmu(m: Machine): Mmu {
  const design = DESIGNS.find((d) => d.selects(m.config));
  if (!design) throw new Error(`no MMU design for mmu.mode ${m.config.mmu.mode}`);
  return design.create(m);
}
