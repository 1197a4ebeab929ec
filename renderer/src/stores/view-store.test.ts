import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { useViewStore } from './view-store';

beforeEach(() => setActivePinia(createPinia()));

describe('useViewStore', () => {
  it('selects a range in either drag direction; an empty one clears it', () => {
    const view = useViewStore();
    view.select(500, 100);
    expect(view.selection).toEqual({ t0: 100, t1: 500 });
    view.select(300, 300);
    expect(view.selection).toBeUndefined();
  });

  it('filters exits by the legend and by one breakdown key, the same key again removes it', () => {
    const view = useViewStore();
    view.toggleReason('HLT');
    expect(view.shows('HLT', 'halt')).toBe(false);
    expect(view.shows('CR_ACCESS', 'cr3-switch')).toBe(true);
    view.toggleFilter('handling', 'fill-spte');
    expect(view.shows('EXCEPTION_NMI', 'fill-spte')).toBe(true);
    expect(view.shows('EXCEPTION_NMI', 'inject-guest-pf')).toBe(false);
    view.toggleFilter('handling', 'fill-spte');
    expect(view.filter).toBeUndefined();
    view.toggleFilter('reason', 'CR_ACCESS');
    expect(view.shows('CR_ACCESS', 'x')).toBe(true);
    expect(view.shows('EXCEPTION_NMI', 'x')).toBe(false);
    view.reset();
    expect([view.selection, view.filter, view.hiddenReasons.size, view.timeWindow]).toEqual([undefined, undefined, 0, undefined]);
  });
});
