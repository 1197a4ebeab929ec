/**
 * Test helper: a built-in scenario by name, recorded to a session file and opened, so each test
 * says only which scenario and which recording options it needs.
 */
import { findBuiltin } from '../../core/builtins.ts';
import { parseScenario, type Scenario } from '../../core/scenario.ts';
import { recordScenario, type RecordOptions } from '../record.ts';
import { openSession, type SessionReader } from '../reader.ts';

export function builtinScenario(name: string): Scenario {
  const builtin = findBuiltin(name);
  if (!builtin) throw new Error(`no built-in scenario ${name}`);
  const parsed = parseScenario(builtin.scenario);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/** Record built-in `name` to `path` and open it (throws if it does not open). */
export function recordBuiltin(path: string, name: string, options: RecordOptions = {}): SessionReader {
  recordScenario(builtinScenario(name), path, options);
  const { session, diagnostics } = openSession(path);
  if (!session) throw new Error(`${path} does not open: ${diagnostics.map((d) => d.message).join('; ')}`);
  return session;
}
