import { describe, expect, it } from 'vitest';
import { completenessSentences } from './incomplete-tail';

describe('completenessSentences', () => {
  const c = {
    allLanesNs: 1_146_534,
    lanes: [
      { vm: 0, vcpu: 0, events: 6142, completeNs: 1_726_454 },
      { vm: 0, vcpu: 1, events: 4096, completeNs: 1_146_534 },
      { vm: 1, vcpu: 0, events: 0, completeNs: 0 },
    ],
  };
  it('says the time for all lanes, then only the lanes that differ, in the run\'s own time', () => {
    const s = completenessSentences(c, 0);
    expect(s.all).toBe("Complete up to t = 1.147 ms for all lanes; after that some lanes' events may be missing.");
    expect(s.lanes.map((l) => l.text)).toEqual(['VM 0 · vCPU 0 complete up to t = 1.726 ms', 'VM 1 · vCPU 0 complete up to its start (no event readable)']);
  });
  it('counts from the start of the run, as the ruler does', () => {
    expect(completenessSentences({ allLanesNs: 2_500, lanes: [] }, 1_000).all).toMatch(/^Complete up to t = 1\.500 µs /);
  });
});
