/** The public API of the engine package: everything outside core/ imports from here or the named modules. */
export * from './events.ts';
export * from './scenario.ts';
export * from './engineApi.ts';
export * from './exitReasons.ts';
export { createVm, runScenario } from './engine.ts';
export { BUILTIN_SCENARIOS, findBuiltin, type BuiltinScenario } from './builtins.ts';
export { HARDWARE, type CostProfile } from './costs.ts';
