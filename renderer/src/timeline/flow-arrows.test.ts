import { describe, expect, it } from 'vitest';
import { flowEndAt, flowEnds, FLOW_HIT_PX } from './flow-arrows';

// A 1000 ns window over a 500 px plot starting at x = 100: 2 ns per pixel.
const scale = { t0: 1000, t1: 2000, x0: 100, width: 500 };
const lanes = new Map([
  ['0/0', 40],
  ['0/1', 70],
]);
const mid = (vm: number, vcpu: number) => lanes.get(`${vm}/${vcpu}`);

describe('flow arrows', () => {
  it('puts each step at its time on its own lane, across lanes, and leaves out lanes not shown', () => {
    const ends = flowEnds(
      [
        { index: 5, t: 1100, vm: 0, vcpu: 0, role: 'the exit' },
        { index: 9, t: 1300, vm: 0, vcpu: 1, role: 'a flush on another vCPU' },
        { index: 12, t: 1500, vm: 1, vcpu: 0, role: 'a lane not drawn' },
      ],
      scale,
      mid,
    );
    expect(ends.map((e) => [e.index, e.x, e.y])).toEqual([
      [5, 150, 40],
      [9, 250, 70],
    ]);
  });

  it('hits the nearest dot within the radius, nothing further away', () => {
    const ends = flowEnds(
      [
        { index: 1, t: 1000, vm: 0, vcpu: 0, role: 'a' },
        { index: 2, t: 1010, vm: 0, vcpu: 0, role: 'b' },
      ],
      scale,
      mid,
    );
    expect(flowEndAt(ends, 101, 41)?.index).toBe(1);
    expect(flowEndAt(ends, 104.5, 40)?.index).toBe(2);
    expect(flowEndAt(ends, 105, 40 + FLOW_HIT_PX + 1)).toBeUndefined();
  });
});
