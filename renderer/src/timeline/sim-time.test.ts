import { describe, expect, it } from 'vitest';
import { formatNs, parseNs } from './sim-time';

describe('parseNs', () => {
  it('reads the units a person types (a bare number is ns)', () => {
    expect(parseNs('1500')).toBe(1500);
    expect(parseNs('1500 ns')).toBe(1500);
    expect(parseNs('12.5 µs')).toBe(12_500);
    expect(parseNs('12.5us')).toBe(12_500);
    expect(parseNs('3 ms')).toBe(3_000_000);
    expect(parseNs('0.2 s')).toBe(200_000_000);
    expect(parseNs('2 MS')).toBe(2_000_000);
  });

  it('refuses what is not a time', () => {
    expect(parseNs('')).toBeUndefined();
    expect(parseNs('soon')).toBeUndefined();
    expect(parseNs('-5 ns')).toBeUndefined();
    expect(parseNs('5 minutes')).toBeUndefined();
  });

  it('reads back what formatNs prints', () => {
    for (const ns of [0, 812, 12_350, 3_100_000]) expect(parseNs(formatNs(ns))).toBe(ns);
  });
});
