/**
 * A scenario file the user picked, read in its own format: `.json` (or text starting with `{`)
 * as JSON with JSON's error and position, anything else as YAML with YAML's. A problem the host
 * finds later (a field out of range) is pointed at the line of that field in the file.
 */
import { LineCounter, parseDocument } from 'yaml';

export type ScenarioFormat = 'JSON' | 'YAML';
export type ParsedScenarioFile = { ok: true; value: unknown; format: ScenarioFormat } | { ok: false; error: string };

export function formatOf(name: string, text: string): ScenarioFormat {
  if (/\.json$/i.test(name)) return 'JSON';
  if (/\.ya?ml$/i.test(name)) return 'YAML';
  return text.trimStart().startsWith('{') ? 'JSON' : 'YAML';
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, col: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

export function parseScenarioFile(name: string, text: string): ParsedScenarioFile {
  const format = formatOf(name, text);
  if (format === 'JSON') {
    try {
      return { ok: true, value: JSON.parse(text), format };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const at = /line (\d+) column (\d+)/.exec(message);
      const pos = /at position (\d+)/.exec(message);
      const where = at ? { line: Number(at[1]), col: Number(at[2]) } : pos ? lineCol(text, Number(pos[1])) : undefined;
      const what = message.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
      return { ok: false, error: `${name} is not valid JSON${where ? ` (line ${where.line}, column ${where.col})` : ''}: ${what}` };
    }
  }
  const counter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter: counter });
  const first = doc.errors[0];
  if (first) {
    const where = counter.linePos(first.pos[0]);
    return { ok: false, error: `${name} is not valid YAML${where ? ` (line ${where.line}, column ${where.col})` : ''}: ${first.message.split('\n')[0]}` };
  }
  return { ok: true, value: doc.toJS(), format };
}

/** `vms[0].memoryMiB` → ['vms', 0, 'memoryMiB']. */
export function pathOf(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/**
 * A problem the host named with a field path (`vms[0].memoryMiB: Too small: …`, optionally after
 * `scenario: `), said with the file's name and the line where that field is.
 */
export function locateProblem(name: string, text: string, problem: string): string {
  const stripped = problem.replace(/^(params\.)?scenario:\s*/, '');
  const m = /^([A-Za-z_][\w.[\]]*):\s*(.*)$/s.exec(stripped);
  if (!m) return `${name}: ${stripped}`;
  const [, field, what] = m;
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  const path = pathOf(field!);
  // the field itself, or the nearest enclosing one that exists (a missing field: its parent)
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) {
      const { line } = counter.linePos(node.range[0]);
      return `${name}, line ${line}: ${field}: ${what}`;
    }
  }
  return `${name}: ${field}: ${what}`;
}
