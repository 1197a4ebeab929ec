// The committed WebAssembly module (sessions/tracedat/wasm/packWasm.ts) is what pack.c compiles
// to: a change to the C that was not rebuilt would otherwise run the old loop unnoticed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findClang, generate, GENERATED } from './build-wasm.mjs';

describe('the trace.dat WebAssembly module', () => {
  it('is pack.c as clang compiles it now', () => {
    const cc = findClang();
    if (!cc) return console.log('skipped: no clang with the wasm32 target here (Debian: apt-get install clang lld)');
    expect(generate(cc)).toBe(readFileSync(GENERATED, 'utf8'));
  }, 60_000);
});
