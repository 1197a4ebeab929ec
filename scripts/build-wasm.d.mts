// Types for scripts/build-wasm.mjs (used by tests).
export const SOURCE: string;
export const GENERATED: string;
export function findClang(): string | undefined;
export function generate(cc: string): string;
