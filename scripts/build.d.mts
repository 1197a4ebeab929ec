// Types for scripts/build.mjs (used by tests).
export const root: string;
export const OUTPUTS: string[];
export function staleReason(): string | undefined;
export function buildBundles(outRoot?: string): Promise<void>;
export function buildRenderer(): void;
export function build(): Promise<void>;
export const CLI_DIR: string;
export const CLI_INPUTS: string;
export function buildCli(outDir?: string, keepOldChunksMs?: number): Promise<{ builtAtMs: number; inputs: string[] }>;
