import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileSessionStem, freeSessionName, sessionStem } from './sessionNames.ts';

describe('session file names', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('keep letters, digits, . _ space -; start with a letter or digit; at most 180 characters', () => {
    expect(sessionStem('zap/update: v2')).toBe('zap-update- v2');
    expect(sessionStem('../../etc/passwd')).toBe('etc-passwd');
    expect(sessionStem('%%%')).toBe('session');
    expect(sessionStem('', 'trace')).toBe('trace');
    expect(sessionStem('x'.repeat(300))).toBe('x'.repeat(180));
  });

  it("name a file's session after its base name without the last extension", () => {
    expect(fileSessionStem('/tmp/traces/My Trace.v2.dat')).toBe('My Trace.v2');
    expect(fileSessionStem('/tmp/.hidden', 'trace')).toBe('trace');
  });

  it('number the name until it is free in the folder', () => {
    dir = mkdtempSync(join(tmpdir(), 'mmulab-names-'));
    expect(freeSessionName(dir, 'a')).toBe('a.mmulab');
    writeFileSync(join(dir, 'a.mmulab'), '');
    writeFileSync(join(dir, 'a-2.mmulab'), '');
    expect(freeSessionName(dir, 'a')).toBe('a-3.mmulab');
  });
});
