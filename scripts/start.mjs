// `npm start`: the desktop app when an Electron binary is installed, else the browser host.
// Says which mode it chose and why, builds first when dist is missing or older than the
// sources, and passes its arguments on (e.g. `npm start -- --port 8080 --no-open`).
// `npm start -- path/to/run.mmulab` opens that session: file arguments are taken relative to
// the folder npm was started in (npm runs scripts in the package root and says where it was
// started in INIT_CWD).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { build, root, staleReason } from './build.mjs';

const require = createRequire(import.meta.url);

/** The Electron binary's path, or the reason there is none. */
function findElectron() {
  let path;
  try {
    path = require('electron');
  } catch (error) {
    const first = String(error instanceof Error ? error.message : error).split('\n')[0];
    if (/failed to install correctly/i.test(first)) {
      return {
        reason:
          'the electron npm package is installed without its binary: its download is off (allowScripts) or was not possible; ' +
          'set ELECTRON_OVERRIDE_DIST_PATH to an Electron distribution to use one',
      };
    }
    return { reason: `the electron package could not be loaded: ${first}` };
  }
  if (typeof path !== 'string') return { reason: 'the electron package did not return a path' };
  if (!existsSync(path)) return { reason: `${path} does not exist` };
  return { path };
}

async function buildIfNeeded() {
  const reason = staleReason();
  if (!reason) {
    console.log('Build is up to date.');
    return;
  }
  console.log(`Building first: ${reason}.`);
  await build();
}

function run(command, args, env = process.env) {
  const child = spawn(command, args, { cwd: root, stdio: 'inherit', env });
  const forward = (signal) => {
    if (!child.killed) child.kill(signal);
  };
  process.on('SIGINT', () => forward('SIGINT'));
  process.on('SIGTERM', () => forward('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  child.on('error', (error) => {
    console.error(`Could not start ${command}: ${error.message}`);
    process.exit(1);
  });
}

// `--browser` forces the browser host even where Electron is installed.
const forceBrowser = process.argv.includes('--browser');
const userCwd = process.env.INIT_CWD || process.cwd();
const args = process.argv
  .slice(2)
  .filter((a) => a !== '--browser')
  .map((a, i, all) => (a.startsWith('-') || all[i - 1] === '--port' || isAbsolute(a) ? a : resolve(userCwd, a)));
const electron = forceBrowser ? { reason: '--browser was given' } : findElectron();
try {
  if (electron.path) {
    console.log(`Starting the desktop app: Electron binary found at ${electron.path}.`);
    await buildIfNeeded();
    run(electron.path, [root, ...args]);
  } else {
    console.log(
      forceBrowser
        ? 'Starting the browser host: --browser was given.'
        : `Electron binary not found (${electron.reason}); starting the browser host instead.`,
    );
    await buildIfNeeded();
    run(process.execPath, [join(root, 'dist', 'host', 'browser-host.mjs'), ...args]);
  }
} catch (error) {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
