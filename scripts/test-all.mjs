// `npm test`: every check the project has, in one command, ending with one summary line.
// Steps: typecheck, lint, unit tests (Vitest), end-to-end tests (Playwright on the browser
// host, real Chromium). Each step runs even when an earlier one failed, so one run shows
// everything that is wrong.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'test-results');
mkdirSync(out, { recursive: true });

/** Run a command with inherited output; returns true when it exits 0. */
function run(label, command, args, env = {}) {
  console.log(`\n=== ${label}: ${command} ${args.join(' ')}`);
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  const ok = result.status === 0;
  console.log(`=== ${label}: ${ok ? 'ok' : `FAILED (exit ${result.status ?? result.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return ok;
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

const steps = [];
const totals = { passed: 0, failed: 0, skipped: 0 };

steps.push(['typecheck', run('typecheck', 'npm', ['run', '--silent', 'typecheck'])]);
steps.push(['lint', run('lint', 'npm', ['run', '--silent', 'lint'])]);

// Build before the unit tests: the packaging test packs the real bundles.
steps.push(['build', run('build', 'npm', ['run', '--silent', 'build'])]);

const vitestJson = join(out, 'vitest.json');
steps.push(['unit', run('unit tests', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`])]);
const vitest = readJson(vitestJson);
if (vitest) {
  totals.passed += vitest.numPassedTests ?? 0;
  totals.failed += vitest.numFailedTests ?? 0;
  totals.skipped += (vitest.numPendingTests ?? 0) + (vitest.numTodoTests ?? 0);
}

const pwJson = join(out, 'playwright.json');
steps.push(['e2e', run('end-to-end tests', 'npx', ['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: pwJson })]);
const pw = readJson(pwJson);
if (pw?.stats) {
  totals.passed += pw.stats.expected ?? 0;
  totals.failed += (pw.stats.unexpected ?? 0) + (pw.stats.flaky ?? 0);
  totals.skipped += pw.stats.skipped ?? 0;
}

const failedSteps = steps.filter(([, ok]) => !ok).map(([name]) => name);
// A step that failed without failing a counted test (typecheck, lint, build) still fails the run.
const failed = totals.failed + (failedSteps.length && totals.failed === 0 ? failedSteps.length : 0);
console.log(`\nSteps: ${steps.map(([n, ok]) => `${n} ${ok ? 'ok' : 'FAILED'}`).join(', ')}`);
if (!existsSync(vitestJson)) console.log('(no unit test results were written)');
console.log(`Summary: ${totals.passed} passed, ${failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps.length === 0 && totals.failed === 0 ? 0 : 1);
