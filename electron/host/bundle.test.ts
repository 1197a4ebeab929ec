// The esbuild bundles as users run them: the browser host bundle started as a child process,
// its printed line parsed, and a run recorded by the bundled VM worker, then opened with our
// reader. (The TypeScript path is covered by the other tests; this covers dist/.)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openSession } from '../../sessions/reader.ts';
import { buildBundles } from '../../scripts/build.mjs';

let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-bundle-'));
  await buildBundles(join(dir, 'dist'));
});

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

it('the bundled browser host prints one line and records a run with its bundled worker', async () => {
  const staticDir = join(dir, 'static');
  mkdirSync(staticDir);
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>MMU Lab</title>');
  const sessionsDir = join(dir, 'sessions');
  child = spawn(process.execPath, [join(dir, 'dist', 'host', 'browser-host.mjs'), '--port', '0', '--no-open', '--sessions-dir', sessionsDir, '--static-dir', staticDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child!.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^MMU Lab browser host: (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child!.on('exit', (code) => reject(new Error(`host exited (${code}): ${err}`)));
  });
  const { origin, searchParams } = new URL(url);
  const token = searchParams.get('token')!;
  const port = new URL(url).port;
  const call = async (id: number, method: string, params: unknown) => {
    const res = await fetch(`${origin}/api`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: `mmulab_token_${port}=${token}`, Origin: origin },
      body: JSON.stringify({ id, method, params }),
    });
    return (await res.json()) as { ok: boolean; result: { runId: string; sessionId: string; state: string; exits: number } };
  };
  expect((await fetch(`${origin}/`)).status).toBe(403);
  expect((await fetch(url)).status).toBe(200);
  const started = await call(1, 'runs.start', { scenario: { builtin: 'demand-zap' } });
  expect(started.ok).toBe(true);
  let status = started.result;
  for (let i = 0; i < 300 && (status.state === 'running' || status.state === 'paused'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = (await call(2 + i, 'runs.status', { runId: started.result.runId })).result;
  }
  expect(status.state).toBe('finished');
  const { session } = openSession(join(sessionsDir, started.result.sessionId));
  expect(session?.summary().eventsByType.vmexit ?? 0).toBe(status.exits);
  expect(out.split('\n').filter(Boolean)).toHaveLength(1); // exactly one line on stdout
  child.kill('SIGTERM');
  await new Promise((r) => child!.once('exit', r));
});
