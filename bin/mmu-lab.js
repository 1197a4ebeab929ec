#!/usr/bin/env node
// The `mmu-lab` command: registers tsx so Node can load the TypeScript CLI directly.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../sessions/cli/main.ts', import.meta.url).href);
