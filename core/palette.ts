/**
 * Colours for keys shown side by side (exit reasons, handlings) in the app's charts and legends
 * and in the HTML/PDF reports: one definition for both. Every colour has at least 3:1 contrast
 * (WCAG 1.4.11, graphics) against the lanes and panels of the light and of the dark theme, and
 * within one set of keys no two keys share a colour: the reasons the lab produces most keep their
 * own colour from session to session, any other key takes the first colour not yet used in its
 * set. Pure data and pure functions.
 */

/** Eleven colours, far apart in hue, each ≥ 3:1 against #ffffff/#f6f7f9 and #1d2024/#24282d. */
export const PALETTE: readonly string[] = ['#1c7ed6', '#d9480f', '#2b8a3e', '#ae3ec9', '#1098ad', '#e03131', '#868e96', '#5c940d', '#d6336c', '#845ef7', '#099268'];

/** The usual reasons keep one colour, so a reader learns them (all different from each other). */
export const FIXED_COLOURS: Readonly<Record<string, string>> = {
  EPT_VIOLATION: '#1c7ed6',
  npf: '#1c7ed6',
  EXCEPTION_NMI: '#d9480f',
  CR_ACCESS: '#2b8a3e',
  EPT_MISCONFIG: '#ae3ec9',
  VMCALL: '#1098ad',
  INVLPG: '#e03131',
  HLT: '#868e96',
  EXTERNAL_INTERRUPT: '#5c940d',
  IO_INSTRUCTION: '#d6336c',
  MSR_READ: '#845ef7',
  MSR_WRITE: '#099268',
};

/** A key's fixed colour; keys are data (trace text), so `constructor` and friends are just names. */
function fixedOf(fixed: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(fixed, key) ? fixed[key] : undefined;
}

/** Past the palette (a set of more than eleven keys): hues a golden angle apart. */
function extra(n: number): string {
  return `hsl(${Math.round((n * 137.508) % 360)} 60% 45%)`;
}

/**
 * A colour for each key of a set, all different: the fixed colour of a usual key unless an
 * earlier key of the set has it, else the first palette colour the set has not used. Give the
 * keys in a stable order (most frequent first, say) so the colours stay put as the set grows.
 */
export function keyColours(keys: Iterable<string>, fixed: Readonly<Record<string, string>> = FIXED_COLOURS): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  const list = [...new Set(keys)];
  // fixed colours first, so a usual key keeps its colour whatever comes before it
  for (const k of list) {
    const f = fixedOf(fixed, k);
    if (f && !used.has(f)) {
      out.set(k, f);
      used.add(f);
    }
  }
  let n = 0;
  for (const k of list) {
    if (out.has(k)) continue;
    const free = PALETTE.find((c) => !used.has(c));
    const colour = free ?? extra(n++);
    out.set(k, colour);
    used.add(colour);
  }
  return out;
}

/**
 * Give `key` a colour in a set that already has some (a key seen for the first time, e.g. a
 * reason of the session compared with): its fixed colour if free, else the first free one. The
 * colours already given stay as they are.
 */
export function addKey(set: Map<string, string>, key: string, fixed: Readonly<Record<string, string>> = FIXED_COLOURS): string {
  const have = set.get(key);
  if (have) return have;
  const used = new Set(set.values());
  const f = fixedOf(fixed, key);
  const colour = f && !used.has(f) ? f : (PALETTE.find((c) => !used.has(c)) ?? extra(set.size));
  set.set(key, colour);
  return colour;
}
