import { describe, expect, it } from 'vitest';
import { check, defaultFor, fieldKind, setAt, variantOf, type JsonSchema } from './schema-form';

// A cut-down scenario schema in the shape zod's toJSONSchema gives (see scenarios.schema).
const workload: JsonSchema = {
  oneOf: [
    { type: 'object', properties: { kind: { type: 'string', const: 'demand-paging' }, pages: { type: 'integer', default: 64, minimum: 1, maximum: 1048576 } }, required: ['kind'] },
    { type: 'object', properties: { kind: { type: 'string', const: 'script' }, steps: { type: 'array', items: { oneOf: [] } } }, required: ['kind'] },
  ],
};
const schema: JsonSchema = {
  type: 'object',
  required: ['name', 'vms'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    seed: { type: 'integer', default: 1, minimum: 0, maximum: 4294967295 },
    vms: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['guest'],
        properties: {
          memoryMiB: { type: 'integer', default: 64, minimum: 1, maximum: 65536 },
          guest: { type: 'object', properties: { paging: { type: 'string', enum: ['nonpae', 'pae', 'long4'], default: 'long4' }, workload } },
          mmu: { type: 'object', default: {}, properties: { shadow: { type: 'object', properties: { onGuestPteWrite: { type: 'string', enum: ['zap', 'update'] } } } } },
        },
      },
    },
  },
};

describe('the scenario form from its JSON Schema', () => {
  it('edits each node with the right control', () => {
    expect(fieldKind(schema)).toBe('object');
    expect(fieldKind(schema.properties!.vms!)).toBe('list');
    expect(fieldKind(workload)).toBe('variant');
    expect(fieldKind(schema.properties!.seed!)).toBe('integer');
    expect(fieldKind({ type: 'string', enum: ['zap', 'update'] })).toBe('enum');
    expect(fieldKind(workload.oneOf![1]!.properties!.steps!)).toBe('json');
  });

  it('picks a workload variant by its kind, and builds defaults', () => {
    expect(variantOf(workload, { kind: 'script' })).toBe(workload.oneOf![1]);
    expect(variantOf(workload, { kind: 'nope' })).toBe(workload.oneOf![0]);
    expect(defaultFor(workload.oneOf![0]!)).toEqual({ kind: 'demand-paging' });
    expect(defaultFor(schema.properties!.vms!.items!)).toEqual({ guest: {} });
  });

  it('names every field that breaks the schema, by its dotted path', () => {
    const good = { name: 'x', seed: 3, vms: [{ memoryMiB: 64, guest: { paging: 'pae', workload: { kind: 'demand-paging', pages: 8 } }, mmu: { shadow: { onGuestPteWrite: 'zap' } } }] };
    expect(check(schema, good)).toEqual([]);
    const bad = { name: '', seed: 1.5, vms: [{ memoryMiB: 0, guest: { paging: 'long5', workload: { kind: 'demand-paging', pages: 0 } }, mmu: { shadow: { onGuestPteWrite: 'later' } } }] };
    expect(check(schema, bad)).toEqual([
      { path: 'name', message: 'must not be empty' },
      { path: 'seed', message: 'must be a whole number' },
      { path: 'vms[0].memoryMiB', message: 'must be at least 1' },
      { path: 'vms[0].guest.paging', message: 'must be one of nonpae, pae, long4' },
      { path: 'vms[0].guest.workload.pages', message: 'must be at least 1' },
      { path: 'vms[0].mmu.shadow.onGuestPteWrite', message: 'must be one of zap, update' },
    ]);
    expect(check(schema, { name: 'x', vms: [] })).toEqual([{ path: 'vms', message: 'needs at least 1' }]);
  });

  it('replaces one value deep in a copy', () => {
    const root = { vms: [{ mmu: { mode: 'shadow' } }] };
    const next = setAt(root, ['vms', 0, 'mmu', 'mode'], 'tdp');
    expect(next).toEqual({ vms: [{ mmu: { mode: 'tdp' } }] });
    expect(root.vms[0]!.mmu.mode).toBe('shadow');
  });
});
