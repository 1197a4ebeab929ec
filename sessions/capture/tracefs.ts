/**
 * The host's tracefs, used through an instance of our own (`instances/mmu-lab-<pid>`): its own
 * ring buffer and event switches, so other users' tracing (the top buffer, their instances) is
 * left as it is. The instance's name carries our pid, so a later run can tell an instance left
 * by a crashed capture (its pid gone) and remove it.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, mkdirSync, writeFileSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/** Capture is not possible here; the message says what is missing, in one sentence. */
export class CaptureUnavailable extends Error {}

export const INSTANCE_PREFIX = 'mmu-lab-';
const MOUNTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

export interface Host {
  tracefs: string;
}

export interface CheckOptions {
  /** For tests: pretend to be this user id. */
  uid?: number;
  /** For tests: where to look for tracefs. */
  mounts?: string[];
  /** For tests: the KVM device. */
  kvmDevice?: string;
}

/** Where tracefs is, or why capture cannot run here. */
export function checkHost(o: CheckOptions = {}): Host {
  const uid = o.uid ?? process.getuid?.() ?? 0;
  if (uid !== 0) throw new CaptureUnavailable('capture needs root: tracefs instances and the kvm tracepoints are root-only (run it with sudo)');
  const tracefs = (o.mounts ?? MOUNTS).find((m) => existsSync(join(m, 'instances')) && existsSync(join(m, 'events')));
  if (!tracefs) throw new CaptureUnavailable('tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)');
  const kvm = o.kvmDevice ?? '/dev/kvm';
  if (!existsSync(kvm)) throw new CaptureUnavailable(`this host has no KVM (${kvm} is missing: load kvm_intel or kvm_amd)`);
  if (!existsSync(join(tracefs, 'events', 'kvm'))) throw new CaptureUnavailable(`this kernel has no kvm tracepoints (${join(tracefs, 'events', 'kvm')} is missing)`);
  try {
    accessSync(join(tracefs, 'instances'), constants.W_OK);
  } catch {
    throw new CaptureUnavailable(`${join(tracefs, 'instances')} is not writable (capture needs root)`);
  }
  return { tracefs };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove instances left by captures whose process is gone. Returns their names. */
export function removeStaleInstances(tracefs: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(join(tracefs, 'instances'));
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(INSTANCE_PREFIX)) continue;
    const pid = Number(name.slice(INSTANCE_PREFIX.length));
    if (!Number.isInteger(pid) || pid <= 0 || (pid !== process.pid && alive(pid))) continue;
    if (pid === process.pid) continue;
    try {
      removeInstance(join(tracefs, 'instances', name));
      removed.push(name);
    } catch {
      // in use by someone after all: leave it
    }
  }
  return removed;
}

function write(path: string, text: string): void {
  writeFileSync(path, text);
}

/** Switch an instance's tracing off and remove it (its buffer goes with it). */
export function removeInstance(dir: string): void {
  if (!existsSync(dir)) return;
  try {
    write(join(dir, 'tracing_on'), '0');
    write(join(dir, 'events', 'enable'), '0');
  } catch {
    // removal below still frees it
  }
  rmdirSync(dir);
}

export interface Instance {
  dir: string;
  /** The event systems enabled (kvm, kvmmmu where the kernel has it). */
  systems: string[];
}

export interface InstanceOptions {
  /** Only these processes' events (and their children's: event-fork). */
  pids?: number[];
  /** Per-CPU buffer size (KiB). */
  bufferKb?: number;
}

/** Make our instance and enable the kvm and kvmmmu events in it. */
export function createInstance(tracefs: string, o: InstanceOptions = {}): Instance {
  const dir = join(tracefs, 'instances', `${INSTANCE_PREFIX}${process.pid}`);
  if (existsSync(dir)) removeInstance(dir);
  mkdirSync(dir);
  try {
    write(join(dir, 'tracing_on'), '0');
    if (o.bufferKb) write(join(dir, 'buffer_size_kb'), String(o.bufferKb));
    if (o.pids?.length) {
      write(join(dir, 'options', 'event-fork'), '1');
      write(join(dir, 'set_event_pid'), o.pids.join(' '));
    }
    const systems = ['kvm', 'kvmmmu'].filter((s) => existsSync(join(dir, 'events', s)));
    for (const s of systems) write(join(dir, 'events', s, 'enable'), '1');
    return { dir, systems };
  } catch (e) {
    removeInstance(dir);
    throw e;
  }
}

export function setPids(instance: Instance, pids: number[]): void {
  write(join(instance.dir, 'options', 'event-fork'), '1');
  write(join(instance.dir, 'set_event_pid'), pids.join(' '));
}

export function tracingOn(instance: Instance, on: boolean): void {
  write(join(instance.dir, 'tracing_on'), on ? '1' : '0');
}

/** The CPUs the instance has buffers for. */
export function instanceCpus(instance: Instance): number[] {
  return readdirSync(join(instance.dir, 'per_cpu'))
    .map((n) => /^cpu(\d+)$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** A tracefs text file. */
export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
