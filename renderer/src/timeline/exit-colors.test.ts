import { describe, expect, it } from 'vitest';
import { exitColor } from './exit-colors.ts';

describe('exitColor', () => {
  it('gives a colour to reasons named like prototype properties (trace text is data)', () => {
    for (const reason of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) expect(exitColor(reason)).toMatch(/^#[0-9a-f]{6}$/);
  });
});
