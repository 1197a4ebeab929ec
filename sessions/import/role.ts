/**
 * The shadow page role (`union kvm_mmu_page_role`) as one vocabulary of words, whatever form a
 * trace gives it in: the kernel's own text (`8-byte q0 wux nxe ad`), the trace-cmd plugin's
 * text (`4 q0 wux !pae nxe wp`), or the numeric role word (perf's and trace-cmd's
 * `[FAILED TO PARSE] ... role=14084`, a trace.dat's `role` field).
 *
 * The word's bits 0-16 have kept their places since the 3.x kernels; bit 4 changed meaning:
 * `cr4_pae` (3.x, 4.x) and `gpte_is_8_bytes` (from about 5.1) are set for 8-byte guest entries,
 * `has_4_byte_gpte` (from about 5.18, all of 6.x) for 4-byte ones. The plugin still decodes bit 4 as `pae`. Which
 * polarity a trace has is read from the trace itself: a shadow page of level 3 or more that is
 * not direct shadows a PAE or long-mode table, whose entries are 8 bytes in every era (see
 * docs/import.md, the era table).
 */

/** Bit 4 set means 8-byte guest entries (older kernels) or 4-byte ones (has_4_byte_gpte, 6.x). */
export type Bit4 = 'gpte8' | 'gpte4';

const ACCESS = ['---', '--x', 'w--', 'w-x', '-u-', '-ux', 'wu-', 'wux'];

export interface DecodedRole {
  level: number;
  quadrant: number;
  direct: boolean;
  /** The role words (see roleText). */
  text: string;
}

/** Bit 4's polarity as a page of this role word shows it, or undefined when it cannot. */
export function bit4FromWord(word: number): Bit4 | undefined {
  const level = word & 15;
  const direct = (word >> 7) & 1;
  if (level < 3 || direct) return undefined;
  return (word >> 4) & 1 ? 'gpte8' : 'gpte4';
}

/** Bit 4's polarity from the plugin's words for a page: its level, `direct` and `pae`/`!pae`. */
export function bit4FromPlugin(level: number, direct: boolean, pae: boolean): Bit4 | undefined {
  if (level < 3 || direct) return undefined;
  return pae ? 'gpte8' : 'gpte4';
}

/** Guest entry size of a role whose bit 4 is `set`, under a polarity (undefined: not known yet). */
export function gpteBytes(set: boolean, bit4: Bit4 | undefined): 4 | 8 | undefined {
  if (!bit4) return undefined;
  return set === (bit4 === 'gpte8') ? 8 : 4;
}

/**
 * The role words, in this order, each where the source tells it:
 * `N-byte` (guest entry size), ` direct`, the access (`wux`), ` invalid`, `[!]nxe`, ` [!]wp`,
 * ` [!]ad`, ` smep`, ` smap`, ` guest`, ` passthrough`, ` smm`.
 */
export function roleText(r: {
  bytes?: 4 | 8;
  direct: boolean;
  access: string;
  invalid: boolean;
  nxe?: boolean;
  wp?: boolean;
  ad?: boolean;
  smep?: boolean;
  smap?: boolean;
  guest?: boolean;
  passthrough?: boolean;
  smm?: boolean;
}): string {
  const w: string[] = [];
  if (r.bytes) w.push(`${r.bytes}-byte`);
  if (r.direct) w.push('direct');
  w.push(r.access + (r.invalid ? ' invalid' : ''));
  if (r.nxe !== undefined) w.push(`${r.nxe ? '' : '!'}nxe`);
  if (r.wp !== undefined) w.push(`${r.wp ? '' : '!'}wp`);
  if (r.ad !== undefined) w.push(`${r.ad ? '' : '!'}ad`);
  if (r.smep) w.push('smep');
  if (r.smap) w.push('smap');
  if (r.guest) w.push('guest');
  if (r.passthrough) w.push('passthrough');
  if (r.smm) w.push('smm');
  return w.join(' ');
}

/** A numeric role word in the layout of the trace's era (bit4: its polarity, when known). */
export function decodeRoleWord(word: number, bit4: Bit4 | undefined): DecodedRole {
  const bit = (n: number) => ((word >>> n) & 1) === 1;
  const direct = bit(7);
  const bytes = gpteBytes(bit(4), bit4);
  return {
    level: word & 15,
    quadrant: (word >> 5) & 3,
    direct,
    text: roleText({
      ...(bytes ? { bytes } : {}),
      direct,
      access: ACCESS[(word >> 8) & 7]!,
      invalid: bit(11),
      nxe: bit(12),
      wp: bit(13),
      // ad_disabled (bit 16, since 4.14)
      ad: !bit(16),
      smep: bit(14),
      smap: bit(15),
      guest: bit(17),
      // passthrough (bit 18) exists since 5.19; the bit was padding (0) before
      passthrough: bit(18),
      smm: (word >>> 24) !== 0,
    }),
  };
}

/** The role words without `invalid`: the same page before and after it is invalidated. */
export function roleCore(text: string): string {
  return text.replace(' invalid', '');
}
