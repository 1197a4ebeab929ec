/**
 * core/ has no import circles (issue 15 §1): the MMUs sit below the VM loop and never
 * import it. Type-only imports count too, since they still tie the modules' designs together.
 * The graph is read from the source files themselves, then searched depth-first.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CORE = dirname(fileURLToPath(import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** Relative specifiers of every static import/export-from and dynamic import of a file. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec?.startsWith('.')) out.push(spec);
  }
  return out;
}

/** One import circle of the graph (as file names, first repeated at the end), or null. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 'open');
    path.push(n);
    for (const next of graph.get(n) ?? []) {
      if (state.get(next) === 'open') return [...path.slice(path.indexOf(next)), next];
      if (!state.has(next)) {
        const c = visit(next);
        if (c) return c;
      }
    }
    path.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of [...graph.keys()].sort()) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

describe('core/ import graph', () => {
  it('finds a circle when there is one, and none in a chain (the checker itself)', () => {
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', []]]))).toBeNull();
    expect(importsOf("import type { A } from './a.ts';\nexport { B } from '../b.ts';\nconst c = await import('./c.ts');\nimport 'node:fs';")).toEqual(['./a.ts', '../b.ts', './c.ts']);
  });

  it('has no import circle, type-only imports included', () => {
    const files = sources(CORE);
    const graph = new Map<string, string[]>();
    for (const f of files) {
      const deps = importsOf(readFileSync(f, 'utf8')).map((s) => relative(CORE, resolve(dirname(f), s)));
      graph.set(relative(CORE, f), deps);
    }
    expect(graph.size).toBeGreaterThan(20);
    expect(findCycle(graph)).toBeNull();
  });

  it('the MMU designs never import the VM loop', () => {
    for (const f of sources(CORE)) {
      const name = relative(CORE, f);
      if (!/^(shadow|tdp|xenpv|nested|nestedshadow)\/|^machine\.ts$|^mmu\.ts$/.test(name) || name === 'tdp/dirtyLogWorkload.ts') continue;
      const deps = importsOf(readFileSync(f, 'utf8')).map((s) => relative(CORE, resolve(dirname(f), s)));
      expect(deps, name).not.toContain('vm.ts');
    }
  });
});
