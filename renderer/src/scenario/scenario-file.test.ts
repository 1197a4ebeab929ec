import { describe, expect, it } from 'vitest';
import { locateProblem, parseScenarioFile, pathOf } from './scenario-file';

describe('scenario files in their own format', () => {
  it('a bad JSON file gets a JSON message with its line, not a YAML one', () => {
    const r = parseScenarioFile('bad.json', '{\n  "name": "x",\n  "vms": [ }\n');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(/^bad\.json is not valid JSON/);
      expect(r.error).not.toMatch(/YAML|flow/i);
    }
  });

  it('a bad YAML file gets YAML’s message with line and column', () => {
    const r = parseScenarioFile('bad.yaml', 'name: x\nvms:\n  - memoryMiB: [1, 2\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^bad\.yaml is not valid YAML \(line \d+, column \d+\)/);
  });

  it('a field the host refuses is named with its line in the file (JSON and YAML alike)', () => {
    const json = '{\n  "name": "x",\n  "vms": [\n    { "memoryMiB": -5 }\n  ]\n}\n';
    expect(locateProblem('bad.json', json, 'scenario: vms[0].memoryMiB: Too small: expected number to be >=1')).toBe(
      'bad.json, line 4: vms[0].memoryMiB: Too small: expected number to be >=1',
    );
    const yaml = 'name: x\nvms:\n  - vcpus: 2\n    memoryMiB: -5\n';
    expect(locateProblem('bad.yaml', yaml, 'vms[0].memoryMiB: Too small')).toBe('bad.yaml, line 4: vms[0].memoryMiB: Too small');
    expect(pathOf('a.b[3].c')).toEqual(['a', 'b', 3, 'c']);
  });
});
