/**
 * `node dist/host/browser-host.mjs [--port N] [--sessions-dir DIR] [--static-dir DIR] [--no-open] [files…]`
 * (what `npm start` runs without Electron; `npm start -- run.mmulab` opens that session)
 *
 * Prints exactly one line on stdout, `MMU Lab browser host: <url>`, so people and Playwright
 * can read the URL; anything else goes to stderr. Ctrl-C stops recordings cleanly (their last
 * chunk is written) before exiting.
 */
import { resolve } from 'node:path';
import { adoptLegacyData, dataDirs } from '../../sessions/dataDirs.ts';
import type { BrowserHost } from './browserHost.ts';
import { openBrowser } from './openBrowser.ts';
import { serve } from './serve.ts';

const USAGE = `Usage: mmu-lab-browser-host [options] [session.mmulab | trace | scenario …]

Serves MMU Lab on http://127.0.0.1 with a per-start access token.

Options:
  --port N            port to listen on (default: a free port)
  --sessions-dir DIR  where sessions are kept (default: the one \`mmu-lab where\` prints)
  --static-dir DIR    the built renderer (default: dist/renderer of this package)
  --no-open           do not open a browser
  -h, --help          show this help`;

interface Args {
  port: number;
  sessionsDir: string;
  staticDir?: string;
  open: boolean;
  files: string[];
}

function fail(message: string): never {
  process.stderr.write(`mmu-lab browser host: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    port: 0,
    sessionsDir: '',
    open: true,
    files: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') fail(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0 || n > 65535) fail('--port must be a whole number from 0 to 65535');
        args.port = n;
        break;
      }
      case '--sessions-dir':
        args.sessionsDir = resolve(value());
        break;
      case '--static-dir':
        args.staticDir = resolve(value());
        break;
      case '--no-open':
        args.open = false;
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        if (arg.startsWith('-')) fail(`unknown option "${arg}" (see --help)`);
        args.files.push(arg);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args.sessionsDir) {
    for (const line of adoptLegacyData()) process.stderr.write(line + '\n');
    args.sessionsDir = dataDirs().sessions;
  }
  const { host, url, problems } = await serve({
    port: args.port,
    sessionsDir: args.sessionsDir,
    ...(args.staticDir ? { staticDir: args.staticDir } : {}),
    files: args.files,
  }).catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
  process.stdout.write(`MMU Lab browser host: ${url}\n`);
  for (const problem of problems) process.stderr.write(`Not opened: ${problem}\n`);
  process.stderr.write(`Sessions folder: ${args.sessionsDir}. Press Ctrl-C to stop.\n`);
  if (args.open) openBrowser(url);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\n${signal}: finishing recordings and stopping.\n`);
    void host.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.env.MMU_LAB_TEST_HOOKS === '1') installTestHooks(host);
}

/**
 * End-to-end tests only, never reachable through the API: with MMU_LAB_TEST_HOOKS=1 in the
 * environment at start, SIGUSR2 kills the worker of VM `MMU_LAB_TEST_KILL_VM` (default 1) in
 * every live run, the hard way (Worker.terminate), as a crash would.
 */
function installTestHooks(host: BrowserHost): void {
  const vm = Number(process.env.MMU_LAB_TEST_KILL_VM ?? '1');
  if (!Number.isInteger(vm) || vm < 0) fail('MMU_LAB_TEST_KILL_VM must be a VM index');
  process.stderr.write(`Test hooks on: SIGUSR2 kills VM ${vm}'s worker in every live run.\n`);
  process.on('SIGUSR2', () => {
    for (const run of host.service.vms.list()) {
      if (run.state === 'running' || run.state === 'paused') void host.service.vms.killWorker(run.runId, vm);
    }
  });
}

void main();
