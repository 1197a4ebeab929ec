// scenarios.schema: the JSON Schema the UI builds its options form from carries the design's
// contract (paging modes, MMU modes, the zap/update choice) and the defaults.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostService } from './hostService.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-schema-'));
const host = new HostService({ sessionsDir: dir, host: 'browser' });
afterAll(async () => {
  await host.close();
  rmSync(dir, { recursive: true, force: true });
});

type Node = { properties?: Record<string, Node>; items?: Node; enum?: unknown[]; default?: unknown; oneOf?: Node[]; anyOf?: Node[]; const?: unknown };

describe('scenarios.schema', () => {
  it('names the paging and MMU modes of DESIGN.md, with their defaults', async () => {
    const schema = (await host.call('scenarios.schema', {})) as Node;
    const vm = schema.properties!.vms!.items!;
    const paging = vm.properties!.guest!.properties!.paging!;
    expect([...(paging.enum ?? [])].sort()).toEqual(['long4', 'nonpae', 'pae']);
    const mmu = vm.properties!.mmu!;
    const modes = JSON.stringify(mmu);
    for (const mode of ['shadow', 'tdp', 'xenpv']) expect(modes).toContain(`"${mode}"`);
    expect(modes).toContain('"zap"');
    expect(modes).toContain('"update"');
    expect(schema.properties!.seed!.default).toBeTypeOf('number');
  });
});
