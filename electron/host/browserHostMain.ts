/**
 * `node dist/host/browser-host.mjs [--port N] [--sessions-dir DIR] [--static-dir DIR] [--no-open]`
 *
 * Prints exactly one line on stdout, `MMU Lab browser host: <url>`, so people and Playwright
 * can read the URL; anything else goes to stderr. Ctrl-C stops recordings cleanly (their last
 * chunk is written) before exiting.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBrowserHost, type BrowserHost } from './browserHost.ts';

const USAGE = `Usage: mmu-lab-browser-host [options]

Serves MMU Lab on http://127.0.0.1 with a per-start access token.

Options:
  --port N            port to listen on (default: a free port)
  --sessions-dir DIR  where sessions are kept (default: $MMU_LAB_SESSIONS_DIR or ~/.mmu-lab/sessions)
  --static-dir DIR    the built renderer (default: dist/renderer of this package)
  --no-open           do not open a browser
  -h, --help          show this help`;

interface Args {
  port: number;
  sessionsDir: string;
  staticDir?: string;
  open: boolean;
}

function fail(message: string): never {
  process.stderr.write(`mmu-lab browser host: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    port: 0,
    sessionsDir: process.env.MMU_LAB_SESSIONS_DIR || join(homedir(), '.mmu-lab', 'sessions'),
    open: true,
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
        fail(`unknown option "${arg}" (see --help)`);
    }
  }
  return args;
}

/** The package root: the nearest folder above this file with our package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mmu-lab') return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

function openBrowser(url: string): void {
  const platform = process.platform;
  if (platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    process.stderr.write('No display found; open the URL above in a browser.\n');
    return;
  }
  const [command, args] =
    platform === 'darwin' ? ['open', [url]] : platform === 'win32' ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write(`Could not start ${command}; open the URL above in a browser.\n`));
    child.unref();
  } catch {
    process.stderr.write('Could not open a browser; open the URL above in a browser.\n');
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const root = packageRoot();
  let version = '0.0.0';
  try {
    version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // keep the default
  }
  const host = await startBrowserHost({
    port: args.port,
    sessionsDir: args.sessionsDir,
    staticDir: args.staticDir ?? join(root, 'dist', 'renderer'),
    version,
  }).catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
  process.stdout.write(`MMU Lab browser host: ${host.url}\n`);
  process.stderr.write(`Sessions folder: ${args.sessionsDir}. Press Ctrl-C to stop.\n`);
  if (args.open) openBrowser(host.url);

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
