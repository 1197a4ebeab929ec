/**
 * Live captures of this host's KVM through the API (`capture.*`): one at a time, recorded by
 * sessions/capture into a new session in the sessions folder, with `capture.progress` about twice
 * a second so the UI can follow the session as it grows.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ApiError, type CaptureStatus } from '../api/contract.ts';
import { runCapture } from '../../sessions/capture/cmd.ts';
import { CaptureUnavailable, checkHost } from '../../sessions/capture/tracefs.ts';
import type { Capture } from '../../sessions/capture/capture.ts';
import { sessionIdFor } from './traceImports.ts';

export interface CapturesOptions {
  sessionsDir: string;
  emit: (status: CaptureStatus) => void;
  onSession: (id: string) => void;
  progressIntervalMs?: number;
}

interface Active {
  status: CaptureStatus;
  stop: AbortController;
  capture?: Capture;
  timer?: NodeJS.Timeout;
  started: number;
  done: Promise<void>;
}

export class Captures {
  private active: Active | undefined;
  private readonly ended = new Map<string, CaptureStatus>();

  constructor(private readonly options: CapturesOptions) {}

  check(): { available: boolean; problem?: string } {
    try {
      checkHost();
      return { available: true };
    } catch (e) {
      if (e instanceof CaptureUnavailable) return { available: false, problem: e.message };
      throw e;
    }
  }

  start(params: { durationSeconds?: number; pid?: number }): CaptureStatus {
    if (this.active) throw new ApiError('failed', 'a capture is already recording; stop it first');
    const problem = this.check().problem;
    if (problem) throw new ApiError('failed', `cannot record this host's KVM: ${problem}`);
    if (params.pid !== undefined) {
      try {
        process.kill(params.pid, 0);
      } catch {
        throw new ApiError('bad-request', `capture.start: there is no process ${params.pid}`);
      }
    }
    const sessionId = sessionIdFor(this.options.sessionsDir, `capture-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
    const status: CaptureStatus = { captureId: `cap-${randomBytes(8).toString('hex')}`, state: 'recording', sessionId, events: 0, seconds: 0, lost: 0 };
    const stop = new AbortController();
    const a: Active = { status, stop, started: Date.now(), done: Promise.resolve() };
    a.done = runCapture(join(this.options.sessionsDir, sessionId), {
      ...(params.pid !== undefined ? { pids: [params.pid] } : {}),
      ...(params.durationSeconds !== undefined ? { durationMs: params.durationSeconds * 1000 } : {}),
      stopSignal: stop.signal,
      // the session file appears after the first few records, so the UI can open it early
      speculateAfter: 64,
      onStart: (c) => (a.capture = c),
    }).then(
      ({ result, capture }) => {
        this.tick(a, capture);
        this.end(a, result.ok ? 'done' : 'failed', result.ok ? result.message : result.records === 0 ? 'no kvm events were recorded; nothing kept' : result.message);
      },
      (e: unknown) => this.end(a, 'failed', e instanceof CaptureUnavailable ? `cannot record this host's KVM: ${e.message}` : `the capture failed: ${(e as Error).message}`),
    );
    this.active = a;
    a.timer = setInterval(() => {
      this.tick(a, a.capture);
      this.options.emit({ ...a.status });
    }, this.options.progressIntervalMs ?? 500);
    this.options.emit({ ...status });
    return { ...status };
  }

  private tick(a: Active, c: Capture | undefined): void {
    a.status.seconds = (Date.now() - a.started) / 1000;
    if (c) {
      a.status.events = c.stats.events;
      a.status.lost = c.stats.lost;
    }
  }

  private end(a: Active, state: 'done' | 'failed', message: string): void {
    clearInterval(a.timer);
    a.status.state = state;
    a.status.message = message;
    if (this.active === a) this.active = undefined;
    this.ended.set(a.status.captureId, { ...a.status });
    if (state === 'done') this.options.onSession(a.status.sessionId);
    this.options.emit({ ...a.status });
  }

  async stop(captureId: string): Promise<CaptureStatus> {
    const a = this.active;
    if (!a || a.status.captureId !== captureId) {
      const ended = this.ended.get(captureId);
      if (ended) return { ...ended };
      throw new ApiError('not-found', `no capture "${captureId}"`);
    }
    a.stop.abort();
    await a.done;
    return { ...(this.ended.get(captureId) ?? a.status) };
  }

  /** Stop a capture still recording (the host is shutting down); its session is kept. */
  async close(): Promise<void> {
    const a = this.active;
    if (!a) return;
    a.stop.abort();
    await a.done;
  }
}
