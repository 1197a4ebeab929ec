/** `mmu-lab serve` and `mmu-lab where` (wired in electron/host/cli.ts). */
import { join, resolve } from 'node:path';
import { CliError, EXIT } from '../../sessions/cli/status.ts';
import { adoptLegacyData, dataDirs, HOME_ENV } from '../../sessions/dataDirs.ts';
import { isLoopback } from './browserHost.ts';
import { defaultLabsDir } from './labService.ts';
import { openBrowser } from './openBrowser.ts';
import { packageRoot, rendererProblem, serve } from './serve.ts';

type Sink = (s: string) => void;

export function cmdWhere(out: Sink, opts: { json?: boolean }): number {
  const dirs = dataDirs();
  const labs = defaultLabsDir();
  if (opts.json) {
    out(JSON.stringify({ sessions: dirs.sessions, settings: dirs.config, recentFile: dirs.recentFile, windowStateFile: dirs.windowStateFile, labs, origin: dirs.origin }, null, 2) + '\n');
    return EXIT.ok;
  }
  out(
    [
      `Sessions  ${dirs.sessions}`,
      `          (recorded and imported sessions; the app lists this folder, and mmu-lab record writes here without -o)`,
      `Settings  ${dirs.config}`,
      `          (recent files, window state)`,
      `Labs      ${labs}`,
      `          (the bundled labs, read only)`,
      '',
      `Chosen by: ${dirs.origin}. Set ${HOME_ENV} to keep everything in one folder.`,
    ].join('\n') + '\n',
  );
  return EXIT.ok;
}

export async function cmdServe(
  out: Sink,
  err: Sink,
  files: string[],
  opts: { port: string; host: string; allowRemote?: boolean; open?: boolean; sessionsDir?: string },
): Promise<number> {
  const port = Number(opts.port);
  if (!/^\d+$/.test(opts.port) || port > 65535) throw new CliError(`--port must be a whole number from 0 to 65535 (got "${opts.port}")`);
  const remote = !isLoopback(opts.host);
  if (remote && !opts.allowRemote) {
    throw new CliError(
      `--host ${opts.host} would let other machines reach MMU Lab; add --allow-remote to mean it (the URL's token is then the only protection)`,
    );
  }
  const staticDir = join(packageRoot(), 'dist', 'renderer');
  const missing = rendererProblem(staticDir);
  if (missing) throw new CliError(missing);
  let sessionsDir = opts.sessionsDir ? resolve(opts.sessionsDir) : undefined;
  if (!sessionsDir) {
    for (const line of adoptLegacyData()) err(line + '\n');
    sessionsDir = dataDirs().sessions;
  }
  let served;
  try {
    served = await serve({ port, bind: opts.host, sessionsDir, staticDir, files });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} is in use; choose another with --port, or leave it out for a free one`);
    if (code === 'EADDRNOTAVAIL') throw new CliError(`${opts.host} is not an address of this machine`);
    throw new CliError(`could not start the host: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { host, url, problems } = served;
  out(`MMU Lab: ${url}\n`);
  if (remote) {
    err(
      `Warning: listening on ${opts.host}, reachable from other machines. The token in the URL is the only protection: ` +
        'anyone who has it can run scenarios and read, write and delete sessions here, and plain HTTP does not hide it on the network.\n',
    );
  }
  for (const problem of problems) err(`Not opened: ${problem}\n`);
  if (opts.open) openBrowser(url);
  err(`Sessions folder: ${sessionsDir}. Press Ctrl-C to stop.\n`);

  // Ctrl-C (or a service manager's SIGTERM): finish the recordings' last chunks, then return;
  // a second Ctrl-C gives up waiting.
  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  err(`${signal}: finishing recordings and stopping.\n`);
  process.once('SIGINT', () => process.exit(130));
  await host.close();
  err('Stopped.\n');
  return EXIT.ok;
}

export async function cmdInstallDesktop(out: Sink, opts: { remove?: boolean }): Promise<number> {
  if (process.platform !== 'linux') throw new CliError('install-desktop is for Linux desktops (XDG); on macOS and Windows the desktop app\'s installer registers .mmulab files');
  const { installDesktop, removeDesktop } = await import('./desktopInstall.ts');
  const lines = opts.remove ? removeDesktop() : installDesktop(packageRoot());
  out(lines.join('\n') + '\n');
  return EXIT.ok;
}
