/**
 * Start the browser host for a user (`mmu-lab serve`, `npm start` without Electron): the
 * sessions folder of `mmu-lab where`, the built renderer of this package, the files named on
 * the command line brought into the sessions folder, and a URL that opens the last of them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageVersion, startBrowserHost, type BrowserHost } from './browserHost.ts';
import { classifyShellFile, importTraceFile, startScenarioFile } from './shellFiles.ts';

/** The package root: the nearest folder above this file with our package.json (the source tree, or dist/'s parent). */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
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

export interface ServeOptions {
  port: number;
  bind?: string;
  sessionsDir: string;
  staticDir?: string;
  /** Sessions (.mmulab), trace texts or scenario files to open, as the user typed them. */
  files?: string[];
}

export interface Served {
  host: BrowserHost;
  /** The URL to print and open: the host's, plus `open=<id>` when a session was brought in. */
  url: string;
  /** One line per file that could not be opened. */
  problems: string[];
}

/** The built renderer, or a sentence saying it is missing and what to run. */
export function rendererProblem(staticDir: string): string | undefined {
  if (existsSync(join(staticDir, 'index.html'))) return undefined;
  return `the app is not built: ${join(staticDir, 'index.html')} is missing (in a source checkout, run: npm run build)`;
}

export async function serve(options: ServeOptions): Promise<Served> {
  const root = packageRoot();
  const host = await startBrowserHost({
    port: options.port,
    ...(options.bind ? { bind: options.bind } : {}),
    sessionsDir: options.sessionsDir,
    staticDir: options.staticDir ?? join(root, 'dist', 'renderer'),
    version: packageVersion(root),
  });
  const problems: string[] = [];
  let open: string | undefined;
  for (const given of options.files ?? []) {
    const file = classifyShellFile(resolve(given));
    if (!file.ok) {
      problems.push(`${given}: ${file.problem}`);
      continue;
    }
    try {
      if (file.kind === 'session') open = host.service.importSession(file.path);
      else if (file.kind === 'trace') open = await importTraceFile(host.service, file.path);
      else await startScenarioFile(host.service, file.path);
    } catch (error) {
      problems.push(`${given}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const url = open ? `${host.url}&open=${encodeURIComponent(open)}` : host.url;
  return { host, url, problems };
}
