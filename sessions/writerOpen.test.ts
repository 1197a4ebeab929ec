import { chmodSync, linkSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSession } from './reader.ts';
import { SessionWriter } from './writer.ts';
import { syntheticEvents } from './testing/synthetic.ts';

// The writer replaces an existing output by a new file instead of truncating it (writer.ts,
// openFresh): what a user sees of the path must stay as a truncation left it.

const dir = mkdtempSync(join(tmpdir(), 'mmulab-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const VCPUS = [1];
const events = syntheticEvents(300, { seed: 5, vcpus: VCPUS });

function write(path: string): void {
  const w = SessionWriter.create(path, { scenario: { name: 'open', seed: 5, vms: VCPUS.map((vcpus) => ({ vcpus })) }, vcpus: VCPUS });
  for (const e of events) w.append(e);
  w.close({ complete: true });
}

const eventsOf = (path: string) => [...openSession(new Uint8Array(readFileSync(path))).session!.iterate()].length;

describe('writing over an existing file', () => {
  it('a regular file: replaced by the session, its permission bits kept, no byte of the old one left', () => {
    const path = join(dir, 'plain.mmulab');
    writeFileSync(path, Buffer.alloc(1 << 20, 0x41));
    chmodSync(path, 0o640);
    const born = statSync(path).birthtimeMs;
    // (the inode number may be reused at once: a new file is told by its birth time)
    const until = Date.now() + 20;
    while (Date.now() < until);
    write(path);
    const st = statSync(path);
    expect(st.mode & 0o777).toBe(0o640);
    if (born > 0) expect(st.birthtimeMs).toBeGreaterThan(born);
    expect(st.size).toBeLessThan(1 << 20);
    expect(eventsOf(path)).toBe(events.length);
  });

  it('a symlink: the session goes to its target, the link stays', () => {
    const target = join(dir, 'target.mmulab');
    const link = join(dir, 'link.mmulab');
    writeFileSync(target, 'old');
    symlinkSync(target, link);
    write(link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
    expect(eventsOf(target)).toBe(events.length);
  });

  it('a file with a second name: written in place, both names see the session', () => {
    const a = join(dir, 'a.mmulab');
    const b = join(dir, 'b.mmulab');
    writeFileSync(a, Buffer.alloc(1 << 16, 0x42));
    linkSync(a, b);
    write(a);
    expect(statSync(a).ino).toBe(statSync(b).ino);
    expect(eventsOf(b)).toBe(events.length);
  });
});
