/**
 * For tests and benches: record a real kvm + kvmmmu trace.dat on this host with the harness
 * guest (tools/realkvm) in a tracefs instance of its own (the top buffer untouched), then
 * `trace-cmd extract -B`. Only the guest's threads are traced: it waits on its stdin until its pid
 * is the instance's filter. `missing()` says why this host cannot (root, KVM, tracefs, gcc,
 * trace-cmd), or undefined.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildHarness, realKvmMissing, TRACEFS } from './realKvm.ts';

export function missing(): string | undefined {
  return realKvmMissing(['gcc', 'make', 'trace-cmd']);
}

/** Run the harness with `args` (and `env`) under tracing; write `out`; the harness's stdout. */
export async function recordTraceDat(dir: string, out: string, args: string[], env: Record<string, string> = {}, bufferKb = 65536): Promise<string> {
  const harness = buildHarness(dir);
  const name = `mmu-lab-rec-${process.pid}`;
  const inst = join(TRACEFS, 'instances', name);
  mkdirSync(inst);
  try {
    const w = (f: string, v: string) => writeFileSync(join(inst, f), v);
    w('tracing_on', '0');
    w('buffer_size_kb', String(bufferKb));
    w('events/kvm/enable', '1');
    w('events/kvmmmu/enable', '1');
    const child = spawn('/bin/sh', ['-c', 'read _go; exec "$@"', 'sh', harness, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    w('options/event-fork', '1');
    w('set_event_pid', String(child.pid));
    w('tracing_on', '1');
    child.stdin!.end('\n');
    await new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the harness guest exited with ${code}`)))));
    w('tracing_on', '0');
    execFileSync('trace-cmd', ['extract', '-B', name, '-o', out], { stdio: 'ignore' });
    return stdout;
  } finally {
    if (existsSync(inst)) spawnSync('rmdir', [inst]);
  }
}
