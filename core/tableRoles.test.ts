import { describe, expect, it } from 'vitest';
import { describeTableRole, parseTableRole, tableOwner } from './tableRoles.ts';

describe('table roles (nested virtualization)', () => {
  it('EPT12 is L1\'s, for L2; EPT01 and EPT02 are L0\'s, for L1 and L2 (the Turtles paper\'s names)', () => {
    expect(parseTableRole('ept12')).toEqual({ kind: 'ept', owner: 1, from: 2 });
    expect(parseTableRole('ept01')).toEqual({ kind: 'ept', owner: 0, from: 1 });
    expect(parseTableRole('ept02')).toEqual({ kind: 'ept', owner: 0, from: 2 });
    expect(parseTableRole('spt12')).toEqual({ kind: 'spt', owner: 1, from: 2 });
    expect([tableOwner('ept12'), tableOwner('spt12'), tableOwner('ept01'), tableOwner('ept02')]).toEqual([1, 1, 0, 0]);
  });

  it('every other role (plain shadow, TDP, Xen, imported, none) is the host\'s one structure', () => {
    for (const role of [undefined, '', 'tdp', 'shadow l1 wux root', 'direct l2 --x', 'ept21', 'ept11', 'ept012'])
      expect([role, tableOwner(role), parseTableRole(role)]).toEqual([role, 0, undefined]);
  });

  it('says in words what a structure is', () => {
    expect(describeTableRole('ept12')).toBe("EPT12 · L1's EPT for L2 (L2 gpa → L1 gpa), in L1 memory");
    expect(describeTableRole('ept02')).toBe("EPT02 · L0's EPT for L2 (L2 gpa → host), in host memory");
    expect(describeTableRole('tdp')).toBe('tdp');
  });
});
