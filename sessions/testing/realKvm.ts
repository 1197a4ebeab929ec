/**
 * For tests and benches that run the harness guest (tools/realkvm) on this host's real KVM under
 * tracing: what the host lacks for that, and the guest built from its source. Those that need it
 * skip with the reason `realKvmMissing` gives.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REALKVM_DIR } from './realPaths.ts';

export const TRACEFS = '/sys/kernel/tracing';
export const HARNESS_SRC = REALKVM_DIR;

/**
 * Why this host cannot run the harness guest under tracing: root, /dev/kvm, tracefs (with
 * instances), each of `tools`, the harness source; undefined when nothing is missing. A reason
 * starting "no <tool>" or "no harness source" means the host could trace but the guest cannot be built.
 */
export function realKvmMissing(tools: readonly string[] = ['gcc', 'make']): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/dev/kvm')) return 'no /dev/kvm';
  if (!existsSync(join(TRACEFS, 'instances'))) return `no tracefs at ${TRACEFS} (mount -t tracefs nodev ${TRACEFS})`;
  for (const tool of tools) if (spawnSync(tool, ['--version']).error) return `no ${tool}`;
  if (!existsSync(join(HARNESS_SRC, 'harness.c'))) return `no harness source at ${HARNESS_SRC}`;
  return undefined;
}

/** Whether a `realKvmMissing` reason is only about building the guest (the host itself could trace). */
export function onlyBuildMissing(reason: string): boolean {
  return /^no (gcc|make|harness source)\b/.test(reason);
}

/** Build the harness guest into `dir` (once per dir); its path. */
export function buildHarness(dir: string): string {
  const harness = join(dir, 'rk', 'harness');
  if (!existsSync(harness)) execFileSync('make', ['-s', '-C', HARNESS_SRC, `BUILD=${join(dir, 'rk')}`], { stdio: 'ignore' });
  return harness;
}

/** The lock file of `holdRealKvm` (one per host: the guests and tracefs are the host's). */
export const REAL_KVM_LOCK = '/tmp/mmu-lab-realkvm.lock';

/**
 * Hold this host's real-KVM lock until the returned function is called. Test files run in
 * parallel (vitest's workers), and a recording of the whole host (sessions/import/recorded.test.ts
 * cannot filter by pid: KVM's teardown zaps come from a host thread) counts another file's guest
 * as its own. flock(1) in a child holds the lock while its stdin is open, so a test process that
 * dies frees it too. Where flock(1) is missing, nothing is held.
 */
export function holdRealKvm(): Promise<() => void> {
  return new Promise((resolve) => {
    const child = spawn('flock', ['-x', REAL_KVM_LOCK, 'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const release = () => child.stdin!.end();
    child.once('error', () => resolve(() => undefined));
    child.once('exit', () => resolve(() => undefined));
    child.stdout!.once('data', () => resolve(release));
  });
}
