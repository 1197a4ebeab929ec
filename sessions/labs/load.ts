/**
 * Load a lab folder: read `lab.yaml` (size-capped), validate it, read its instructions, check
 * that every file it names exists inside the folder within its cap, and parse every check
 * expression against the query whitelist. Any problem is one `LabError` line naming the file
 * and the key.
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describeZodError } from '../../core/scenario.ts';
import { ExprError, type Node } from './expr.ts';
import { parseCheck } from './queries.ts';
import { LAB_LIMITS, answersSchema, labSchema, type Answers, type Check, type LabFile } from './schema.ts';

export class LabError extends Error {}

export interface LoadedCheck extends Check {
  /** The session this check reads. */
  session: string;
  tree: Node;
}

export interface Lab {
  /** The folder name, which is the lab's name on the command line. */
  name: string;
  dir: string;
  file: LabFile;
  /** The instructions as Markdown source; render only through a renderer with HTML disabled. */
  instructions: string;
  checks: LoadedCheck[];
}

export const LAB_FILE = 'lab.yaml';

/** The labs bundled with MMU Lab (the repository's labs/ folder). */
export function bundledLabsDir(): string {
  return resolve(new URL('../../labs/', import.meta.url).pathname);
}

function readCapped(path: string, cap: number, what: string): string {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new LabError(`${path}: ${what} is not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof LabError) throw e;
    throw new LabError(`${path}: cannot read ${what} (${(e as { code?: string }).code ?? 'error'})`);
  }
  if (size > cap) throw new LabError(`${path}: ${what} is too large (${size} bytes; at most ${cap})`);
  return readFileSync(path, 'utf8');
}

/**
 * The path of a file a lab names, refused unless it is a regular file inside the lab's folder:
 * not a symbolic link (to a system file, say), not a device or a pipe, and not reached through
 * a linked folder (its real path is checked against the folder's).
 */
export function labFilePath(dir: string, name: string, what: string): string {
  const path = join(dir, name);
  const refuse = (why: string): never => {
    throw new LabError(`${path}: ${what} ${why}; lab files must be regular files inside the lab's folder`);
  };
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    throw new LabError(`${path}: cannot read ${what} (${(e as { code?: string }).code ?? 'error'})`);
  }
  if (st.isSymbolicLink()) refuse('is a symbolic link');
  if (!st.isFile()) refuse('is not a regular file');
  let rel: string;
  try {
    rel = relative(realpathSync(dir), realpathSync(path));
  } catch (e) {
    throw new LabError(`${path}: cannot read ${what} (${(e as { code?: string }).code ?? 'error'})`);
  }
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) refuse("is outside the lab's folder");
  return path;
}

/** A lab file's text (labFilePath's rules, the size capped), read without following a link swapped in since. */
export function readLabFile(dir: string, name: string, cap: number, what: string): string {
  const path = labFilePath(dir, name, what);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    throw new LabError(`${path}: cannot read ${what} (${(e as { code?: string }).code ?? 'error'})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new LabError(`${path}: ${what} is not a regular file; lab files must be regular files inside the lab's folder`);
    if (st.size > cap) throw new LabError(`${path}: ${what} is too large (${st.size} bytes; at most ${cap})`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Parse YAML with aliases capped (no "billion laughs") into plain data. */
export function parseYamlText(text: string, where: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 50, prettyErrors: false });
  } catch (e) {
    throw new LabError(`${where}: not valid YAML: ${String((e as Error).message).split('\n')[0]}`);
  }
}

export function loadLab(dir: string, name = dir.split(/[/\\]/).filter(Boolean).pop() ?? dir): Lab {
  const labPath = join(dir, LAB_FILE);
  if (!existsSync(labPath)) throw new LabError(`${dir}: not a lab (no ${LAB_FILE})`);
  const raw = parseYamlText(readLabFile(dir, LAB_FILE, LAB_LIMITS.labFileBytes, 'the lab file'), labPath);
  const parsed = labSchema.safeParse(raw);
  if (!parsed.success) throw new LabError(`${labPath}: ${describeZodError(parsed.error)}`);
  const file = parsed.data;
  const instructions = readLabFile(dir, file.instructions, LAB_LIMITS.instructionsBytes, 'the instructions');
  for (const s of file.scenarios) {
    const [name, cap, what] = 'file' in s ? [s.file, LAB_LIMITS.scenarioBytes, `scenario "${s.id}"`] : [s.trace, LAB_LIMITS.traceBytes, `trace "${s.id}"`];
    const size = statSync(labFilePath(dir, name, what)).size;
    if (size > cap) throw new LabError(`${join(dir, name)}: ${what} is too large (${size} bytes; at most ${cap})`);
  }
  // Optional, but when there it follows the same rules (a dangling link is still a link).
  if (lstatSync(join(dir, file.referenceAnswers), { throwIfNoEntry: false })) labFilePath(dir, file.referenceAnswers, 'the reference answers');
  const first = file.scenarios[0]!.id;
  const checks = file.checks.map((c, i) => {
    try {
      return { ...c, session: c.scenario ?? first, tree: parseCheck(c.expect) };
    } catch (e) {
      if (e instanceof ExprError) throw new LabError(`${labPath}: checks[${i}].expect (check "${c.id}"): ${e.message}`);
      throw e;
    }
  });
  return { name, dir, file, instructions, checks };
}

/** Read and validate an answers file (YAML or JSON). */
export function loadAnswers(path: string): Answers {
  const raw = parseYamlText(readCapped(path, LAB_LIMITS.answersBytes, 'the answers file'), path);
  if (raw && typeof raw === 'object' && !Array.isArray(raw))
    for (const key of Object.keys(raw))
      if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(key)) throw new LabError(`${path}: "${key.slice(0, 60)}" is not a question id (lower-case letters, digits and dashes)`);
  const parsed = answersSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new LabError(`${path}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** The reference answers shipped with a lab. */
export function referenceAnswers(lab: Lab): Answers {
  return loadAnswers(labFilePath(lab.dir, lab.file.referenceAnswers, 'the reference answers'));
}

/** Every lab folder under `root`, sorted by name. */
export function listLabDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, LAB_FILE)))
    .map((d) => d.name)
    .sort();
}

/** A bundled lab by name (a plain name only: never a path). */
export function findLab(name: string, root = bundledLabsDir()): Lab {
  if (!/^[a-z0-9][a-z0-9-]{0,59}$/.test(name)) {
    if (existsSync(join(name, LAB_FILE))) return loadLab(name);
    throw new LabError(`"${name}" is not a lab name or a lab folder (see: mmu-lab lab list)`);
  }
  const dir = join(root, name);
  if (!existsSync(join(dir, LAB_FILE))) {
    if (existsSync(join(name, LAB_FILE))) return loadLab(name);
    throw new LabError(`no lab "${name}" (see: mmu-lab lab list)`);
  }
  return loadLab(dir, name);
}
