/**
 * `mmu-lab scenarios`: the built-in scenarios. Kept apart from `record` so listing them loads
 * neither the scenario parser nor the recorder.
 */
import { out, table } from './output.ts';
import { EXIT } from './status.ts';

export async function cmdScenarios(opts: { json?: boolean }): Promise<number> {
  const { BUILTIN_SCENARIOS } = await import('../../core/builtins.ts');
  if (opts.json) {
    out(JSON.stringify(BUILTIN_SCENARIOS.map(({ name, title, description }) => ({ name, title, description })), null, 2) + '\n');
    return EXIT.ok;
  }
  out(table([['NAME', 'TITLE'], ...BUILTIN_SCENARIOS.map((s) => [s.name, s.title])], 99));
  out('\nRecord one with: mmu-lab record <name> (into the sessions folder the app lists; -o <file> to choose)\n');
  return EXIT.ok;
}
