/**
 * The `mmu-lab` command's entry (bundled into dist/cli/mmu-lab.mjs): the session commands of
 * sessions/cli/main.ts plus the ones that need the host: `serve` (the app in a browser, from any
 * folder) and `where` (the data folders). Their modules load only when they run.
 */
import { main, type CliExtension } from '../../sessions/cli/main.ts';

export function addHostCommands({ program, run, out, err, wanted }: CliExtension): void {
  if (wanted('serve'))
    program
      .command('serve')
      .description("start the app's browser host: prints the URL (with its per-start token) and opens the given sessions or traces")
      .argument('[files...]', 'sessions (.mmulab), trace texts or scenario files to open')
      .option('--port <n>', 'the port to listen on (default: a free one)', '0')
      .option('--host <address>', 'the address to listen on', '127.0.0.1')
      .option('--allow-remote', 'needed with a --host other than loopback: the URL\'s token is then the only protection')
      .option('--open', 'open the URL in the default browser')
      .option('--sessions-dir <dir>', 'keep sessions here instead of the sessions folder (mmu-lab where)')
      .addHelpText('after', '\nCtrl-C finishes running recordings and stops. Other machines can reach the app only with --host and --allow-remote.')
      .action(
        run(async (files: string[], opts: { port: string; host: string; allowRemote?: boolean; open?: boolean; sessionsDir?: string }) =>
          (await import('./serveCmd.ts')).cmdServe(out, err, files, opts),
        ),
      );

  if (wanted('install-desktop'))
    program
      .command('install-desktop')
      .description('Linux: add MMU Lab to your desktop menu and open .mmulab files in it by double-click (in the browser app)')
      .option('--remove', 'take them out again')
      .addHelpText('after', '\nWrites to $XDG_DATA_HOME (~/.local/share): applications/, mime/packages/, icons/hicolor/. The desktop app\'s installers do this themselves.')
      .action(run(async (opts: { remove?: boolean }) => (await import('./serveCmd.ts')).cmdInstallDesktop(out, opts)));

  if (wanted('where'))
    program
      .command('where')
      .description('print the folders MMU Lab keeps its data in: sessions, settings, labs')
      .option('--json', 'print as JSON')
      .addHelpText('after', '\nSet MMU_LAB_HOME to keep everything in one folder of your choice.')
      .action(run(async (opts: { json?: boolean }) => (await import('./serveCmd.ts')).cmdWhere(out, opts)));
}

process.exitCode = await main(process.argv.slice(2), addHostCommands);
