/**
 * The app, the scenarios it can run, and runs: starting one, its status, pausing, stepping, speed.
 *
 * Pure: zod and core's pure definitions only.
 */
import { z } from 'zod';
import { type CallTable, type EventTable, noParams } from './common.ts';

/** The MMU designs the scenario picker groups by, in its order (core/scenarioDocs.ts decides a scenario's). */
export { MMU_DESIGNS } from '../../../core/scenarioDocs.ts';

export const scenarioInfo = z.object({
  name: z.string(),
  title: z.string(),
  description: z.string(),
  /** The MMU design it shows (Shadow paging, EPT/NPT, TDP MMU, Xen PV, Nested), for grouping; added after v0.1. */
  design: z.string().optional(),
});

/** A scenario as sent by the UI: a built-in name, or a whole scenario object (validated by core). */
export const scenarioRef = z.union([
  z.strictObject({ builtin: z.string().min(1).max(200) }),
  z.strictObject({ scenario: z.unknown() }),
]);

export const runState = z.enum(['running', 'paused', 'finished', 'failed', 'stopped']);

/** One VM of a run: each VM runs in its own worker, so each can fail on its own. */
export const vmRunStatus = z.object({
  vm: z.number(),
  state: runState,
  events: z.number(),
  exits: z.number(),
  simNs: z.number(),
  message: z.string().optional(),
});

export const runStatus = z.object({
  runId: z.string(),
  sessionId: z.string(),
  state: runState,
  events: z.number(),
  exits: z.number(),
  simNs: z.number(),
  message: z.string().optional(),
  /** Per-VM detail (added after v0.1; optional so older producers stay valid). */
  vms: z.array(vmRunStatus).optional(),
  /** Wall-clock ms since the run started, for exits/s. */
  elapsedMs: z.number().optional(),
  /** Simulated ns per wall-clock second, or null when running flat out. */
  speed: z.number().nullable().optional(),
});

export type RunStatus = z.output<typeof runStatus>;

export const RUN_CALLS = {
  'app.info': { params: noParams, result: z.object({ version: z.string(), host: z.enum(['electron', 'browser']) }) },
  'scenarios.list': { params: noParams, result: z.array(scenarioInfo) },
  'scenarios.get': { params: z.strictObject({ name: z.string().min(1).max(200) }), result: z.unknown() },
  'scenarios.validate': {
    params: z.strictObject({ scenario: z.unknown() }),
    result: z.object({ ok: z.boolean(), error: z.string().optional() }),
  },
  /** The scenario file's JSON Schema (draft 2020-12, input side: defaults filled in by the host), for the UI's options form. */
  'scenarios.schema': { params: noParams, result: z.record(z.string(), z.unknown()) },
  'runs.start': {
    /**
     * `maxEvents`: stop each VM after this many events; left out, the host's default bound
     * (DEFAULT_MAX_EVENTS in sessions/record.ts); `null` lifts the bound (docs/host.md, Limits).
     */
    params: z.strictObject({
      scenario: scenarioRef,
      seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
      maxEvents: z.number().int().min(1).max(1e12).nullable().optional(),
    }),
    result: runStatus,
  },
  'runs.status': { params: z.strictObject({ runId: z.string().min(1).max(100) }), result: runStatus },
  'runs.control': {
    /**
     * `step` runs one engine step of each VM (one guest operation and the events it causes),
     * `stepExit` runs each VM until its next vmexit or guest fault; both leave the run paused.
     */
    params: z.strictObject({ runId: z.string().min(1).max(100), action: z.enum(['pause', 'resume', 'stop', 'step', 'stepExit']) }),
    result: runStatus,
  },
  /** Run at a chosen speed (simulated ns per wall-clock second), or flat out with `null`. */
  'runs.setSpeed': {
    params: z.strictObject({ runId: z.string().min(1).max(100), nsPerSecond: z.number().finite().positive().max(1e15).nullable() }),
    result: runStatus,
  },
  /** Every run the host knows of since it started, newest last. */
  'runs.list': { params: noParams, result: z.array(runStatus) },
} as const satisfies CallTable;

export const RUN_EVENTS = {
  'runs.progress': runStatus,
} as const satisfies EventTable;
