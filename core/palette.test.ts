import { describe, expect, it } from 'vitest';
import { FIXED_COLOURS, PALETTE, keyColours } from './palette.ts';

/** WCAG relative luminance and contrast ratio. */
const lum = (hex: string) => {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
};
const contrast = (a: string, b: string) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);

describe('key colours', () => {
  it('every palette colour has 3:1 against the light and the dark lanes and panels', () => {
    for (const c of PALETTE) for (const bg of ['#ffffff', '#f6f7f9', '#1d2024', '#24282d']) expect(contrast(c, bg), `${c} on ${bg}`).toBeGreaterThanOrEqual(3);
    for (const c of Object.values(FIXED_COLOURS)) expect(PALETTE).toContain(c);
  });

  it('no two keys of a set share a colour, whatever the set', () => {
    const sets = [
      ['EPT_VIOLATION', 'npf'],
      ['EXCEPTION_NMI', 'CR_ACCESS', 'INVLPG', 'hypercall:mmu_update', 'hypercall:mmuext_op', 'trap:page_fault', 'HLT'],
      Array.from({ length: 30 }, (_, i) => `reason-${i}`),
      [...Object.keys(FIXED_COLOURS), 'PML_FULL', 'EPT_MISCONFIG', 'x', 'y'],
    ];
    for (const set of sets) {
      const m = keyColours(set);
      expect(new Set(m.values()).size).toBe(new Set(set).size);
    }
    for (const k of ['constructor', '__proto__', 'toString']) expect(keyColours([k]).get(k)).toMatch(/^#[0-9a-f]{6}$/);
    // a usual reason keeps its colour wherever it comes in the set
    expect(keyColours(['foo', 'EXCEPTION_NMI']).get('EXCEPTION_NMI')).toBe(FIXED_COLOURS.EXCEPTION_NMI);
  });
});
