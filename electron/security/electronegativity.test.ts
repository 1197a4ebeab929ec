// Electron's security checklist, checked by a tool we do not control: Electronegativity
// scans electron/ (main, preload, host) and this test fails on any finding above low
// severity that is not in the reviewed allow-list beside it, each entry with its reason.
// Entries that no longer match a finding fail too, so the list stays true.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Finding {
  id: string;
  file: string;
  location: { line: number; column: number };
  severity: { value: number; name: string };
  confidence: { name: string };
  description: string;
}
interface ScanResult {
  errors: Array<{ file: string; message: string; tolerable: boolean }>;
  issues: Finding[];
  atomicChecks: number;
}
type Run = (options: Record<string, unknown>) => Promise<ScanResult>;

interface AllowList {
  excludedChecks: Array<{ check: string; reason: string }>;
  allowed: Array<{ id: string; file: string; reason: string }>;
}

const allowList = JSON.parse(readFileSync(join(root, 'electron', 'security', 'electronegativity-allowlist.json'), 'utf8')) as AllowList;

/** Electron's version as package.json pins it (major.minor.patch), so version-gated checks apply. */
function electronVersion(): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  return /\d+\.\d+\.\d+/.exec(pkg.devDependencies.electron ?? '')?.[0] ?? '40.0.0';
}

it('finds nothing above low severity in electron/ except the reviewed allow-list', async () => {
  for (const entry of [...allowList.allowed, ...allowList.excludedChecks]) expect(entry.reason.length, JSON.stringify(entry)).toBeGreaterThan(40);

  const loaded = createRequire(import.meta.url)('@doyensec/electronegativity') as Run | { default: Run };
  const run = typeof loaded === 'function' ? loaded : loaded.default;
  const result = await run({
    input: join(root, 'electron'),
    electronVersionOverride: electronVersion(),
    excludeFromScan: allowList.excludedChecks.map((c) => c.check),
  });

  // Every source file parsed (a file the tool cannot read is a file it did not check).
  expect(result.errors.filter((e) => !e.tolerable)).toEqual([]);
  expect(result.atomicChecks).toBeGreaterThan(20);

  const aboveLow = result.issues
    .filter((i) => i.severity.value > 1)
    .map((i) => ({ id: i.id, file: relative(root, i.file.startsWith('/') ? i.file : join(root, 'electron', i.file)).split('\\').join('/'), at: `${i.location.line}:${i.location.column}`, severity: i.severity.name, description: i.description }));
  const isAllowed = (f: { id: string; file: string }) => allowList.allowed.some((a) => a.id === f.id && a.file === f.file);
  const report = aboveLow.map((f) => `${f.severity} ${f.id} ${f.file}:${f.at}${isAllowed(f) ? ' (allowed)' : ''}`).join('\n');
  console.log(`Electronegativity: ${result.issues.length} findings, ${aboveLow.length} above low:\n${report}`);

  expect(aboveLow.filter((f) => !isAllowed(f)), 'findings above low severity that are not in electron/security/electronegativity-allowlist.json').toEqual([]);
  const stale = allowList.allowed.filter((a) => !aboveLow.some((f) => f.id === a.id && f.file === a.file));
  expect(stale, 'allow-list entries that match no finding any more (remove them)').toEqual([]);
});
