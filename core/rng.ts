/**
 * A small seeded PRNG (mulberry32). The engine never uses Math.random or the clock, so the
 * same scenario and seed always give the same event stream.
 */
export class Rng {
  private state: number;
  constructor(seed: number) {
    // Mix the seed so seeds 0, 1, 2 … do not start on nearby sequences.
    this.state = (seed ^ 0x9e3779b9) >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform integer in [0, n). */
  below(n: number): number {
    return this.nextU32() % n;
  }
}
