/**
 * The host service: every API method, implemented once against a sessions folder, and one
 * generic dispatcher that every front door (Electron IPC, the browser host's WebSocket,
 * tests) goes through, so no handler can skip validation.
 *
 * `handleRequest` never throws and never leaks a stack trace: whatever arrives, it answers
 * with a `ResponseMessage` whose error carries a code and one readable line.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  API,
  API_EVENTS,
  ApiError,
  isApiMethod,
  type ApiEventName,
  type ApiEventPayload,
  type ApiMethod,
  type ApiResult,
  type EventMessage,
  type ResponseMessage,
  type RunStatus,
} from '../api/contract.ts';
import { parseScenario, scenarioSchema, type Scenario } from '../../core/scenario.ts';
import { BUILTIN_SCENARIOS, findBuiltin } from '../../core/builtins.ts';
import { describeScenarioSchema, scenarioDesign } from '../../core/scenarioDocs.ts';
import type { SessionReader } from '../../sessions/reader.ts';
import { appendNoteOp, keyframesCutAt, type NoteRecord } from '../../sessions/annex.ts';
import { compareView, countersViewAsync, diffViewAsync, pageTablesView, runStepsYielding } from '../../sessions/views.ts';
import { Searches } from './searches.ts';
import { rawNameSteps } from '../../sessions/rawNames.ts';
import { EXPORT_EXTENSIONS, EXPORT_MIME, ReportError, exportSessionFile } from '../../sessions/report/exportFile.ts';
import { LabService } from './labService.ts';
import { LAB_MAX_EVENTS } from '../../sessions/labs/run.ts';
import { SessionCache } from './sessionCache.ts';
import { TraceImports } from './traceImports.ts';
import { Captures } from './captures.ts';
import { VmManager, type VmManagerOptions } from './vmManager.ts';
import type { WorkerLocation } from './vmWorkerSpawn.ts';
import { SessionUploads } from './sessionUploads.ts';
import { densityView } from '../../sessions/density.ts';
import { describeIssue, readRequest, toWireError } from './wireRequests.ts';
import { QueryRunner } from './queryRunner.ts';
import { SessionsFolder } from './sessionsFolder.ts';

/** The browser host serves exports under this path (same origin, same token or cookie as the API). */
export const EXPORTS_URL_PATH = '/exports';

export interface HostServiceOptions {
  sessionsDir: string;
  host: 'electron' | 'browser';
  version?: string;
  /** Override where the VM worker lives (tests, bundles). */
  worker?: WorkerLocation;
  progressIntervalMs?: number;
  /** The bundled labs (default: labs/ of the package, or $MMU_LAB_LABS_DIR). */
  labsDir?: string;
  /** Print an HTML report to a PDF (the desktop app: Electron's printToPDF); default: the system Chromium. */
  printPdf?: (html: string, outPath: string) => Promise<void>;
  /** Memory budget and runs at once (default: from the environment and the machine; runLimits.ts). */
  limits?: VmManagerOptions['limits'];
  watchdogIntervalMs?: number;
  /** The desktop app: the system's Open dialog for a session file (`sessions.pick`); a path, or undefined when cancelled. */
  pickSessionFile?: () => Promise<string | undefined>;
}

/** Who a call came from: a connection of the browser host (absent for IPC and in-process calls). */
export interface CallContext {
  client?: object;
}

type Handler<M extends ApiMethod> = (params: z.output<(typeof API)[M]['params']>, context: CallContext) => Promise<ApiResult<M>> | ApiResult<M>;
type Handlers = { [M in ApiMethod]: Handler<M> };

export class HostService {
  readonly sessionsDir: string;
  readonly vms: VmManager;
  private readonly sessions: SessionCache;
  /** The sessions folder: ids to paths, the list, files brought in, the exports folder: sessionsFolder.ts. */
  private readonly folder: SessionsFolder;
  private readonly listeners = new Set<(message: EventMessage) => void>();
  private readonly handlers: Handlers;
  private readonly labs: LabService;
  /** Trace imports through the API (uploads, then the importer): traceImports.ts. */
  private readonly traces: TraceImports;
  /** Live captures of this host's KVM: captures.ts. */
  private readonly captures: Captures;
  /** Sessions opened from the UI (Open session…, a dropped .mmulab): sessionUploads.ts. */
  private readonly uploads: SessionUploads;
  private closed = false;
  /** Queries running with a `queryId` (UI's long diffs and counters): their progress and Cancel. */
  private readonly queries = new QueryRunner((payload) => this.emit('queries.progress', payload));
  /** Raw events by name, per opened session (sessions/rawNames.ts). */
  private readonly rawNames = new WeakMap<SessionReader, Record<string, number>>();
  /** The event searches' kept scans (searches.ts). */
  private readonly searches = new Searches();

  constructor(private readonly options: HostServiceOptions) {
    this.folder = new SessionsFolder(options.sessionsDir);
    this.sessionsDir = this.folder.dir;
    this.sessions = new SessionCache();
    this.vms = new VmManager({
      sessionsDir: this.sessionsDir,
      worker: options.worker,
      progressIntervalMs: options.progressIntervalMs,
      producer: `mmu-lab ${options.version ?? '0.0.0'}`,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.watchdogIntervalMs !== undefined ? { watchdogIntervalMs: options.watchdogIntervalMs } : {}),
      onProgress: (status) => this.emit('runs.progress', status),
      onSessionsChanged: () => this.emit('sessions.changed', {}),
    });
    this.labs = new LabService(
      {
        sessionsDir: this.sessionsDir,
        exportsDir: this.exportsDir,
        exportsUrlPath: EXPORTS_URL_PATH,
        changed: () => this.emit('sessions.changed', {}),
        printPdf: options.printPdf,
        record: async (scenario, sessionId) => {
          const started = await this.vms.start(scenario, { sessionId, audit: true, maxEvents: LAB_MAX_EVENTS });
          // the whole file, keyframes included, before the lab fingerprints it
          return this.waitForRun(started.runId);
        },
      },
      options.labsDir,
    );
    this.traces = new TraceImports({
      sessionsDir: this.sessionsDir,
      ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
      emit: (status) => this.emit('traces.progress', status),
      onSession: () => this.emit('sessions.changed', {}),
    });
    this.uploads = new SessionUploads(this.sessionsDir, () => this.emit('sessions.changed', {}));
    this.captures = new Captures({
      sessionsDir: this.sessionsDir,
      ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
      emit: (status) => this.emit('capture.progress', status),
      onSession: () => this.emit('sessions.changed', {}),
    });
    this.handlers = this.makeHandlers();
    // files added or removed by others (the CLI, a file manager) show up in the UI's list
    this.folder.watch(() => this.emit('sessions.changed', {}));
  }

  /** Subscribe to host events (run progress, session list changes). */
  onEvent(listener: (message: EventMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The one entry point for untrusted wire messages: a JSON string or bytes (WebSocket) or an
   * already-decoded object. Checks size, JSON, envelope, method and params, in that order.
   */
  async handleRequest(raw: unknown, context: CallContext = {}): Promise<ResponseMessage> {
    const read = readRequest(raw);
    if ('error' in read) return { id: read.id, ok: false, error: toWireError(read.error) };
    try {
      const result = await this.dispatch(read.request.method, read.request.params, context);
      return { id: read.id, ok: true, result };
    } catch (error) {
      return { id: read.id, ok: false, error: toWireError(error) };
    }
  }

  /**
   * Validate and call one method (Electron IPC arrives here with the method from its channel).
   * Throws ApiError; `handleRequest` and the IPC wrapper turn that into a response.
   */
  async dispatch(method: string, params: unknown, context: CallContext = {}): Promise<unknown> {
    if (this.closed) throw new ApiError('failed', 'the host is shutting down');
    if (!isApiMethod(method)) throw new ApiError('unknown-method', `unknown method "${String(method).slice(0, 100)}"`);
    const spec = API[method];
    const parsed = spec.params.safeParse(params ?? {});
    if (!parsed.success) throw new ApiError('bad-request', `${method}: ${describeIssue(parsed.error)}`);
    const handler = this.handlers[method] as (p: unknown, c: CallContext) => unknown;
    let result: unknown;
    try {
      result = await handler(parsed.data, context);
    } finally {
      if (method.startsWith('sessions.')) this.tellNewDamage(parsed.data);
    }
    const checked = spec.result.safeParse(result);
    if (!checked.success) throw new ApiError('failed', `${method}: the host produced an invalid result (${describeIssue(checked.error, 'result')})`);
    return checked.data;
  }

  /** Typed in-process call (CLI, tests); throws ApiError. */
  async call<M extends ApiMethod>(method: M, params: z.input<(typeof API)[M]['params']>): Promise<ApiResult<M>> {
    return (await this.dispatch(method, params)) as ApiResult<M>;
  }

  /** A connection of the browser host closed: what it left half-done and holds a slot (an upload) is released. */
  clientGone(client: object): void {
    this.traces.clientGone(client);
    this.uploads.clientGone(client);
  }

  /** A POSTed request was aborted before its body arrived: release the upload it names, if any. */
  requestAborted(partialBody: string): void {
    const head = partialBody.slice(0, 4096);
    const trace = /"importId"\s*:\s*"(imp-[0-9a-f]{16})"/.exec(head);
    if (trace) this.traces.requestAborted(trace[1]!);
    const upload = /"uploadId"\s*:\s*"(up-[0-9a-f]{16})"/.exec(head);
    if (upload) this.uploads.requestAborted(upload[1]!);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.folder.close();
    this.traces.close();
    this.uploads.close();
    this.queries.cancelAll();
    await this.captures.close();
    await this.vms.close();
    this.sessions.clear();
    this.listeners.clear();
  }

  private emit<E extends ApiEventName>(event: E, payload: ApiEventPayload<E>): void {
    const checked = API_EVENTS[event].safeParse(payload);
    if (!checked.success) return;
    for (const listener of this.listeners) {
      try {
        listener({ event, payload: checked.data });
      } catch {
        // one broken listener must not stop the others
      }
    }
  }

  /**
   * Bring a session file the user chose (a dialog, the OS, a second launch: never the renderer)
   * into the sessions folder and ask the UI to open it. A file already in the folder is used
   * where it is; another is checked with the reader first, then copied under a free name.
   * Returns the session id.
   */
  importSession(path: string, options: { announce?: boolean } = {}): string {
    const { id, copied } = this.folder.bringIn(path);
    if (copied) this.emit('sessions.changed', {});
    if (options.announce !== false) this.emit('sessions.openRequested', { id });
    return id;
  }

  /** How this host prints reports to PDF (undefined: the system Chromium). */
  get printPdf(): ((html: string, outPath: string) => Promise<void>) | undefined {
    return this.options.printPdf;
  }

  /**
   * A query may read chunks no earlier query read, and find one damaged (sessions open without
   * reading their events): tell the UI, which shows diagnostics in the session's header.
   */
  private tellNewDamage(params: unknown): void {
    const p = params as { id?: unknown; a?: unknown; b?: unknown };
    for (const id of [p.id, p.a, p.b]) {
      if (typeof id !== 'string') continue;
      let diagnostics;
      try {
        diagnostics = this.sessions.newDiagnostics(this.sessionPath(id));
      } catch {
        continue; // not a session id (a run's, a lab's): nothing to tell
      }
      if (diagnostics) this.emit('sessions.diagnostics', { id, diagnostics });
    }
  }

  /** The open reader of a session (cached; reopened when the file changed). */
  private reader(id: string): SessionReader {
    return this.sessions.get(this.sessionPath(id)).session;
  }

  /** Notes are appended to the file, so the recording must be closed (its writer no longer appends). */
  private writableForNotes(id: string): SessionReader {
    const session = this.reader(id);
    if (!session.closed)
      throw new ApiError('failed', `${id} is still being recorded (or its recording was cut short); notes can be added once it is closed`);
    return session;
  }

  /** Where exports are written: a folder beside the sessions (never listed as a session). */
  get exportsDir(): string {
    return this.folder.exportsDir;
  }

  /** The path of an export by its id (a file name in the exports folder), or undefined. */
  exportPath(exportId: string): string | undefined {
    return this.folder.exportPath(exportId);
  }

  /** A session the shell just wrote into the folder (an imported trace): list it and ask the UI to open it. */
  announceSession(id: string): void {
    this.emit('sessions.changed', {});
    this.emit('sessions.openRequested', { id });
  }

  /** Map a session id (a validated file name) to its path, refusing anything outside the folder. */
  sessionPath(id: string): string {
    return this.folder.path(id);
  }

  private resolveScenario(ref: { builtin: string } | { scenario: unknown }, seed?: number): Scenario {
    let input: unknown;
    if ('builtin' in ref) {
      const found = findBuiltin(ref.builtin);
      if (!found) throw new ApiError('not-found', `no built-in scenario "${ref.builtin}"`);
      input = found.scenario;
    } else input = ref.scenario;
    const parsed = parseScenario(input);
    if (!parsed.ok) throw new ApiError('bad-request', `scenario: ${parsed.error}`);
    return seed === undefined ? parsed.value : { ...parsed.value, seed };
  }

  /** The scenario schema as JSON Schema, built once (the UI's options form is generated from it). */
  private scenarioJsonSchema?: Record<string, unknown>;

  private makeHandlers(): Handlers {
    return {
      'app.info': () => ({ version: this.options.version ?? '0.0.0', host: this.options.host }),
      'scenarios.list': () =>
        BUILTIN_SCENARIOS.map((s) => ({ name: s.name, title: s.title, description: s.description, design: scenarioDesign(s.scenario) })),
      'scenarios.get': ({ name }) => {
        const found = findBuiltin(name);
        if (!found) throw new ApiError('not-found', `no built-in scenario "${name}"`);
        return found.scenario;
      },
      'scenarios.schema': () =>
        (this.scenarioJsonSchema ??= describeScenarioSchema(z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>)),
      'scenarios.validate': ({ scenario }) => {
        const parsed = parseScenario(scenario);
        return parsed.ok ? { ok: true } : { ok: false, error: parsed.error };
      },
      'sessions.list': () => this.folder.list(),
      'sessions.open': ({ id }) => {
        const path = this.sessionPath(id);
        const summary = this.sessions.summary(id, path);
        // A host shut down during a keyframe pass left it cut short: finish it now, in the background.
        if (keyframesCutAt(this.reader(id)) !== undefined) void this.vms.resumeKeyframes(path);
        return summary;
      },
      'sessions.events': ({ id, from, count, types }) => this.sessions.events(this.sessionPath(id), from, count, types),
      'sessions.searchCount': async ({ id, filter, at, queryId }) => {
        const scan = this.searches.scan(id, this.reader(id), filter);
        const partial = () => ({ matches: scan.total, ...(scan.scanned > at && !scan.overflow ? { before: scan.upTo(at) } : {}) });
        if (!scan.done) await this.queries.run(queryId, (options) => runStepsYielding(scan.count(), options), partial);
        return { total: scan.total, before: scan.overflow ? null : scan.upTo(at) };
      },
      'sessions.search': async ({ id, filter, from, dir, queryId }) => {
        const session = this.reader(id);
        const scan = this.searches.scan(id, session, filter);
        const index = await this.queries.run(queryId, (options) => runStepsYielding(scan.find(from, dir), options));
        const event = index === null ? undefined : session.rawEvents(index, 1)[0];
        return event ? { index, event: session.toJson(event) } : { index: null };
      },
      'sessions.timeline': async ({ id, t0, t1, buckets, queryId }) => {
        if (t1 < t0) throw new ApiError('bad-request', 'sessions.timeline: params.t1 must not be before params.t0');
        await this.queries.run(queryId, (options) => runStepsYielding(this.reader(id).buildSummaries(t0, t1), options));
        return this.sessions.timeline(this.sessionPath(id), t0, t1, buckets);
      },
      'sessions.density': async ({ id, t0, t1, buckets, hidden, queryId }) => {
        if (t1 < t0) throw new ApiError('bad-request', 'sessions.density: params.t1 must not be before params.t0');
        // a file without summaries builds them first, in steps: progress and Cancel with a queryId
        await this.queries.run(queryId, (options) => runStepsYielding(this.reader(id).buildSummaries(t0, t1), options));
        return densityView(this.reader(id), t0, t1, buckets, hidden);
      },
      'sessions.rawNames': async ({ id, queryId }) => {
        const session = this.reader(id);
        let names = this.rawNames.get(session);
        if (!names) {
          if (!(session.summary().eventsByType.raw ?? 0)) return {};
          names = await this.queries.run(queryId, (options) => runStepsYielding(rawNameSteps(session), options));
          this.rawNames.set(session, names);
        }
        return names;
      },
      'runs.start': async ({ scenario, seed, maxEvents }) => {
        const resolved = this.resolveScenario(scenario, seed);
        return this.vms.start(resolved, {
          sessionId: this.folder.newId(resolved.name),
          ...(maxEvents !== undefined ? { maxEvents } : {}),
          liftBound: 'tick "Record until the scenario ends" in Edit & run, or start it with maxEvents: null',
        });
      },
      'runs.status': ({ runId }) => this.vms.status(runId),
      'runs.control': ({ runId, action }) => this.vms.control(runId, action),
      'runs.setSpeed': ({ runId, nsPerSecond }) => this.vms.setSpeed(runId, nsPerSecond),
      'runs.list': () => this.vms.list(),
      'traces.begin': ({ fileName, sizeBytes }, { client }) => this.traces.begin(fileName, sizeBytes, Date.now(), client),
      'traces.upload': ({ importId, offset, data }) => this.traces.upload(importId, offset, data),
      'traces.import': ({ importId }) => this.traces.start(importId),
      'traces.cancel': ({ importId }) => this.traces.cancel(importId),
      'capture.check': () => this.captures.check(),
      'capture.start': (params) => this.captures.start(params),
      'capture.stop': ({ captureId }) => this.captures.stop(captureId),
      'sessions.counters': ({ id, t0, t1, queryId }) => {
        if (t1 < t0) throw new ApiError('bad-request', 'sessions.counters: params.t1 must not be before params.t0');
        return this.queries.run(queryId, (options) => countersViewAsync(this.reader(id), t0, t1, options));
      },
      'sessions.pageTables': ({ id, at, vm, maxTables }) => {
        const session = this.reader(id);
        if (at >= session.eventCount) throw new ApiError('bad-request', `sessions.pageTables: params.at is ${at}; the session has ${session.eventCount} events`);
        return pageTablesView(session, session.stateAfter(at), at, { ...(vm !== undefined ? { vm } : {}), ...(maxTables !== undefined ? { maxTables } : {}) });
      },
      'sessions.diff': async ({ id, from, to, limit, queryId }) => {
        const session = this.reader(id);
        const last = session.eventCount - 1;
        if (from > last || to > last) throw new ApiError('bad-request', `sessions.diff: the session has events 0..${last}`);
        return this.queries.run(queryId, (options) => diffViewAsync(session, from, to, limit, options));
      },
      'sessions.notes.list': ({ id }) => this.reader(id).notes(),
      'sessions.notes.add': ({ id, noteId, kind, t, index, vm, vcpu, text }) => {
        const path = this.sessionPath(id);
        this.writableForNotes(id);
        const note: NoteRecord = { noteId: noteId ?? randomBytes(9).toString('base64url'), kind, t, text, createdMs: Date.now() };
        if (index !== undefined) note.index = index;
        if (vm !== undefined) note.vm = vm;
        if (vcpu !== undefined) note.vcpu = vcpu;
        appendNoteOp(path, { op: 'put', note });
        return note;
      },
      'sessions.notes.remove': ({ id, noteId }) => {
        const path = this.sessionPath(id);
        const session = this.writableForNotes(id);
        if (!session.notes().some((n) => n.noteId === noteId)) return { removed: false };
        appendNoteOp(path, { op: 'remove', noteId, atMs: Date.now() });
        return { removed: true };
      },
      'sessions.compare': ({ a, b, range }) => compareView(this.reader(a), this.reader(b), { a, b }, range),
      'sessions.export': async ({ id, format, diffFrom, diffTo, title }) => {
        const session = this.reader(id);
        mkdirSync(this.exportsDir, { recursive: true });
        const stem = id.replace(/\.mmulab$/, '');
        const ext = EXPORT_EXTENSIONS[format];
        const exportId = `${stem}-${Date.now().toString(36)}${ext}`;
        const path = join(this.exportsDir, exportId);
        try {
          await exportSessionFile(session, format, path, {
            title: title ?? stem,
            ...(this.options.printPdf ? { printPdf: this.options.printPdf } : {}),
            ...(diffFrom !== undefined ? { diffFrom } : {}),
            ...(diffTo !== undefined ? { diffTo } : {}),
          });
        } catch (e) {
          rmSync(path, { force: true });
          if (e instanceof ReportError) throw new ApiError('failed', e.message);
          throw e;
        }
        return { exportId, fileName: `${stem}${ext}`, mimeType: EXPORT_MIME[format], sizeBytes: statSync(path).size, url: `${EXPORTS_URL_PATH}/${encodeURIComponent(exportId)}` };
      },
      'sessions.uploadBegin': ({ fileName, sizeBytes }, { client }) => this.uploads.begin(fileName, sizeBytes, Date.now(), client),
      'sessions.uploadChunk': ({ uploadId, offset, data }) => this.uploads.chunk(uploadId, offset, data),
      'sessions.uploadFinish': ({ uploadId }) => this.uploads.finish(uploadId),
      'sessions.uploadCancel': ({ uploadId }) => this.uploads.cancel(uploadId),
      'sessions.pick': async () => {
        const pick = this.options.pickSessionFile;
        if (!pick) throw new ApiError('failed', 'this host has no file dialog: the page picks the file and uploads it (sessions.uploadBegin)');
        const path = await pick();
        return { sessionId: path === undefined ? null : this.importSession(path, { announce: false }) };
      },
      'queries.cancel': ({ queryId }) => ({ cancelled: this.queries.cancel(queryId) }),
      'labs.list': () => this.labs.list(),
      'labs.get': ({ name }) => this.labs.get(name),
      'labs.run': ({ name }) => this.labs.run(name),
      'labs.status': ({ name, answers, student }) => this.labs.status(name, answers, student),
      'labs.report': ({ name, format }) => this.labs.report(name, format),
      'labs.reference': ({ name, scenario }) => this.labs.reference(name, scenario),
    };
  }

  /** Test and CLI helper: wait until a run has ended, its session is closed and its keyframes are written. */
  async waitForRun(runId: string): Promise<RunStatus> {
    const status = await this.vms.waitForEnd(runId);
    await this.vms.keyframesWritten(runId);
    return status;
  }
}
