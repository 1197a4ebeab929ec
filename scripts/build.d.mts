// Types for scripts/build.mjs (used by tests).
export const root: string;
export const OUTPUTS: string[];
export function staleReason(): string | undefined;
export function buildBundles(outRoot?: string): Promise<void>;
export function buildRenderer(): void;
export function build(): Promise<void>;
