/**
 * Synthetic events for tests and benchmarks, generated generically from core/events.ts: every
 * event type, every field kind, optional fields present or not, awkward text. Deterministic
 * for a seed. Within a lane, `t` never decreases (the engine's guarantee).
 */
import { EVENT_SCHEMAS, EVENT_TYPES, type MmuEvent } from '../../core/events.ts';

/** A small, fast, seedable PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['EXCEPTION_NMI', 'EPT_VIOLATION', 'CR_ACCESS', 'INVLPG', 'HLT', 'fill-spte', 'emulate-pte-write', 'guest', 'ad', 'ok', 'fault', 'read', 'write'];
const TEXTS = ['', 'plain', 'comma, "quoted"', 'line\nbreak', 'ünïcødé ✓', 'a'.repeat(300)];

export interface SyntheticOptions {
  seed?: number;
  /** vCPUs of each VM. */
  vcpus?: number[];
  /** Largest time step within a lane, ns (0 gives equal times, which tests tie-breaking). */
  maxStep?: number;
  /** Fraction of events that are vmexits. */
  exitShare?: number;
}

/** `count` events, lanes chosen at random (or round-robin with `roundRobin`). */
export function syntheticEvents(count: number, options: SyntheticOptions & { roundRobin?: boolean } = {}): MmuEvent[] {
  const out: MmuEvent[] = [];
  for (const e of syntheticStream(options)) {
    if (out.length >= count) break;
    out.push(e);
  }
  return out;
}

/** An endless stream of synthetic events. */
export function* syntheticStream(options: SyntheticOptions & { roundRobin?: boolean } = {}): Generator<MmuEvent> {
  const r = rng(options.seed ?? 1);
  const vcpus = options.vcpus ?? [2, 1];
  const lanes: [number, number][] = [];
  vcpus.forEach((n, vm) => {
    for (let c = 0; c < n; c++) lanes.push([vm, c]);
  });
  const clock = lanes.map(() => Math.floor(r() * 1000));
  const maxStep = options.maxStep ?? 500;
  const exitShare = options.exitShare ?? 0.3;
  for (let i = 0; ; i++) {
    const li = options.roundRobin ? i % lanes.length : Math.floor(r() * lanes.length);
    const [vm, vcpu] = lanes[li]!;
    clock[li]! += r() < 0.2 ? 0 : Math.floor(r() * maxStep);
    const type = r() < exitShare ? 'vmexit' : EVENT_TYPES[Math.floor(r() * EVENT_TYPES.length)]!;
    const ev: Record<string, unknown> = { t: clock[li], vm, vcpu, type };
    for (const f of EVENT_SCHEMAS[type]) {
      if ('optional' in f && f.optional && r() < 0.5) continue;
      switch (f.kind) {
        case 'u32':
          ev[f.name] = r() < 0.5 ? Math.floor(r() * 16) : Math.floor(r() * 4294967296);
          break;
        case 'addr':
          ev[f.name] = r() < 0.5 ? Math.floor(r() * 2 ** 32) * 4096 % 2 ** 52 : Math.floor(r() * 2 ** 20) * 4096;
          break;
        case 'pte': {
          const hi = BigInt(Math.floor(r() * 2 ** 32));
          const lo = BigInt(Math.floor(r() * 2 ** 32));
          ev[f.name] = r() < 0.3 ? 0n : r() < 0.5 ? lo : (hi << 32n) | lo;
          break;
        }
        case 'ns':
          ev[f.name] = Math.floor(r() * 5000);
          break;
        case 'str':
          ev[f.name] = WORDS[Math.floor(r() * WORDS.length)];
          break;
        case 'text':
          ev[f.name] = TEXTS[Math.floor(r() * TEXTS.length)];
          break;
      }
    }
    yield ev as unknown as MmuEvent;
  }
}

/** The canonical order, computed the obvious way: a stable sort by (t, vm, vcpu); ties keep emission order. */
export function canonicalOrder(events: MmuEvent[]): MmuEvent[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.t - b.e.t || a.e.vm - b.e.vm || a.e.vcpu - b.e.vcpu || a.i - b.i)
    .map((x) => x.e);
}
