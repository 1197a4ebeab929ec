/**
 * The `mmu-lab` command line: this module only wires the commands into commander; each
 * command's body is a module of its own (infoCmd.ts, exportCmd.ts, verifyCmd.ts, compareCmd.ts,
 * recordCmd.ts, scenariosCmd.ts, importCmd.ts, ../labs/cli.ts, ../capture/cmd.ts). Every
 * command has --help; bad input gets one clear line on stderr and a non-zero exit, never a
 * stack trace. Exit statuses: status.ts.
 *
 * A command's module loads when the command runs, not at start: `--version` and `--help`
 * evaluate commander only (issue 16 §5), and each command pays only for the modules it uses.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { err, oneLine, out } from './output.ts';
import { CliError, EXIT } from './status.ts';
import type { RecordCliOptions } from './recordCmd.ts';

declare const __MMULAB_VERSION__: string | undefined;

/** The package's version: put into the bundle at build time, else read from package.json (running from source). */
function packageVersion(): string {
  if (typeof __MMULAB_VERSION__ === 'string') return __MMULAB_VERSION__;
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** What a caller (electron/host/cli.ts) gets to add commands of its own to the program. */
export interface CliExtension {
  program: Command;
  /** Wraps a command body that imports what it needs: its exit status set, its CliError printed as one line. */
  run: <A extends unknown[]>(fn: (...args: A) => number | Promise<number>) => (...args: A) => Promise<void>;
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether the command of this name is to be added (see buildProgram's `only`). */
  wanted: (name: string) => boolean;
}

/**
 * The program with its commands; with `only`, the program with that one command (main's start
 * for a command named first: commander's objects for the ~15 others cost ~2 ms per start, and
 * parsing, help and errors of a subcommand depend on that subcommand alone).
 */
export function buildProgram(setStatus: (n: number) => void, extend?: (cli: CliExtension) => void, only?: string): Command {
  const wanted = (name: string) => only === undefined || only === name;
  const program = new Command('mmu-lab')
    .description('MMU Lab: simulate how a hypervisor virtualizes guest memory, record sessions, inspect and export them.')
    .version(packageVersion())
    .configureOutput({ writeOut: out, writeErr: err });
  /** Every command body imports what it needs itself; its exit status is set here. */
  const run =
    <A extends unknown[]>(fn: (...args: A) => number | Promise<number>) =>
    async (...args: A) => {
      setStatus(await fn(...args));
    };

  if (wanted('scenarios'))
    program
      .command('scenarios')
      .description('list the built-in scenarios')
      .option('--json', 'print as JSON')
      .action(run(async (opts: { json?: boolean }) => (await import('./scenariosCmd.ts')).cmdScenarios(opts)));

  if (wanted('record'))
    program
      .command('record')
      .description('run a scenario (a JSON or YAML file, or a built-in name) and record it as a session')
      .argument('<scenario>', 'scenario file (.json, .yaml) or built-in scenario name')
      .option('-o, --output <file>', 'the session file to write (.mmulab; default: a new file in the sessions folder, see mmu-lab where)')
      .option('--seed <n>', "override the scenario's seed")
      .option('--max-events <n>', 'stop each VM after this many events (default: 5000000, the default bound)')
      .option('--no-limit', 'lift the default bound: record until every VM ends (a scenario that never ends runs until stopped)')
      .option('-q, --quiet', 'print nothing on success (and no progress)')
      .option('--audit', 'run the MMU auditor while recording: broken invariants become audit_violation events (slower)')
      .addHelpText('after', '\nProgress goes to stderr after the first second: a bar on a terminal, a line every 5 s otherwise.')
      .action(run(async (ref: string, opts: RecordCliOptions) => (await import('./recordCmd.ts')).cmdRecord(ref, opts)));

  if (wanted('info'))
    program
      .command('info')
      .description('show what a session holds: VMs, vCPUs, duration, events, exits by reason, diagnostics')
      .argument('<file>', 'a .mmulab session')
      .option('--json', 'print as JSON')
      .addHelpText('after', '\nExit status: 0 clean, 2 the session opened but data was lost, 1 error.')
      .action(run(async (file: string, opts: { json?: boolean }) => (await import('./infoCmd.ts')).cmdInfo(file, opts)));

  if (wanted('export'))
    program
      .command('export')
      .description('export a session as JSONL, CSV, Chrome trace event JSON, or an HTML or PDF report')
      .argument('<file>', 'a .mmulab session')
      .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl', 'csv', 'chrome', 'html', 'pdf']).makeOptionMandatory())
      .option('-o, --output <path>', 'write here instead of stdout (for csv: a directory, one <type>.csv per event type; required for pdf)')
      .option('--from <event>', 'html/pdf: the page-table diff starts just after this event index (default 0)')
      .option('--to <event>', 'html/pdf: the page-table diff ends just after this event index (default: the last event)')
      .option('--title <text>', 'html/pdf: the report title (default: the file name)')
      .addHelpText(
        'after',
        '\nWithout -o, csv prints every table to stdout, each after a line "# <type>" and followed by a blank line.\n' +
          'The html report is one self-contained page (summary, exits by reason, per-vCPU timeline, notes, page-table diff);\n' +
          'pdf prints it with the system Chromium (/usr/bin/chromium, or $MMU_LAB_CHROMIUM).',
      )
      .action(run(async (file: string, opts: { format: string; output?: string; from?: string; to?: string; title?: string }) => (await import('./exportCmd.ts')).cmdExport(file, opts)));

  if (wanted('verify'))
    program
      .command('verify')
      .description('check every checksum, the index and every chunk of a session; say exactly what was lost')
      .argument('<file>', 'a .mmulab session')
      .option('--repair', 'also write what can be read as a new, clean session (needs -o)')
      .option('-o, --output <file>', 'where --repair writes (never the damaged file itself)')
      .addHelpText('after', '\nExit status: 0 clean (or informational notes only), 2 data loss, 1 error (not readable).')
      .action(run(async (file: string, opts: { repair?: boolean; output?: string }) => (await import('./verifyCmd.ts')).cmdVerify(file, opts)));

  if (wanted('compare'))
    program
      .command('compare')
      .description("put two sessions side by side: time, exits per reason, faults, ratios; or a student's session against a lab's reference")
      .argument('<a>', 'first session (with --lab: the student\'s session)')
      .argument('[b]', 'second session (with --lab: left out, the lab\'s reference session is recorded)')
      .option('--json', 'print as JSON')
      .option('--lab <name>', "compare <a> against the reference session of this bundled lab")
      .option('--scenario <id>', "with --lab: which of the lab's scenarios (default: its first)")
      .action(
        run(async (a: string, b: string | undefined, opts: { json?: boolean; lab?: string; scenario?: string }) => {
          const { cmdCompare } = await import('./compareCmd.ts');
          if (opts.lab) {
            if (b) throw new CliError('give either a second session or --lab, not both');
            const { referenceSession } = await import('../labs/cli.ts');
            return cmdCompare(a, await referenceSession(opts.lab, opts.scenario), opts);
          }
          if (!b) throw new CliError('compare needs two sessions, or one session and --lab <name>');
          return cmdCompare(a, b, opts);
        }),
      );

  if (wanted('import'))
    program
      .command('import')
      .description("import a trace-cmd trace.dat, or trace-cmd report, raw ftrace or perf script text (detected from the content), as a session")
      .argument('<trace>', 'trace.dat or trace text file')
      .option('-o, --output <file>', 'the session file to write (default: the trace name with .mmulab)')
      .option('--progress', 'show progress on stderr (shown anyway for files of 32 MiB and more)')
      .option('-q, --quiet', 'print nothing on success')
      .addHelpText('after', '\nCtrl-C stops the import and keeps what was read as a session marked incomplete. See docs/import.md.')
      .action(
        // only the import's own modules: the scenario parser (zod) and yaml that record loads
        // cost ~40 ms CPU, a large part of importing a small trace
        run(async (trace: string, opts: { output?: string; progress?: boolean; quiet?: boolean }) => {
          const own = await import('./importCmd.ts');
          try {
            return await own.cmdImport(out, err, trace, opts);
          } catch (e) {
            throw e instanceof own.ImportCliError ? new CliError(e.message) : e;
          }
        }),
      );

  if (wanted('capture'))
    program
      .command('capture')
      .description("record this host's KVM (kvm and kvmmmu tracepoints, in a tracefs instance of its own) into a session as it runs")
      .argument('[command...]', 'a command to run and trace (after --); without one, every VM on the host, or --pid')
      .option('-o, --output <file>', 'the session file to write (default: capture-<date>.mmulab)')
      .option('--duration <time>', 'stop after this long (10s, 500ms, 2m)')
      .option('--pid <pid...>', 'trace only this process (and the threads and children it starts)')
      .option('-q, --quiet', 'print nothing on success')
      .addHelpText('after', '\nNeeds root, tracefs and /dev/kvm. Stops at --duration, when the command exits, or on Ctrl-C. See docs/import.md.')
      .action(
        run(async (command: string[], opts: { output?: string; duration?: string; pid?: string[]; quiet?: boolean }) => {
          const { cmdCapture, CaptureCliError } = await import('../capture/cmd.ts');
          const { CaptureUnavailable } = await import('../capture/tracefs.ts');
          try {
            return await cmdCapture(out, err, command, opts);
          } catch (e) {
            throw e instanceof CaptureCliError || e instanceof CaptureUnavailable ? new CliError(`capture: ${e.message}`) : e;
          }
        }),
      );

  if (wanted('lab')) {
    const lab = program.command('lab').description('list or run the bundled course labs (docs/labs.md)');
    lab
      .command('list')
      .description('list the bundled labs')
      .option('--json', 'print as JSON')
      .action(run(async (opts: { json?: boolean }) => (await import('../labs/cli.ts')).cmdLabList(out, opts)));
    lab
      .command('run')
      .description("record a lab's scenarios, evaluate its checks and grade the answers (for autograding)")
      .argument('<name>', 'a bundled lab name (mmu-lab lab list) or a lab folder')
      .option('--answers <file>', 'the student\'s answers (YAML or JSON: question id -> answer); every graded question must then be right')
      .option('-o, --output <dir>', 'record the sessions here (default: a new temporary folder, printed)')
      .option('--json', 'print the result as JSON')
      .option('--report <file>', 'also write the report: self-contained HTML, or PDF when the name ends in .pdf (needs Chromium)')
      .option('--student <name>', 'the name printed on the report')
      .addHelpText('after', '\nExit status: 0 every check (and answer) passed, 3 a check or an answer failed (named on stderr), 1 error.')
      .action(
        run(async (name: string, opts: { answers?: string; output?: string; json?: boolean; report?: string; student?: string }) =>
          (await import('../labs/cli.ts')).cmdLabRun(out, err, name, opts),
        ),
      );
  }
  extend?.({ program, run, out, err, wanted });
  return program;
}

export async function main(argv: string[], extend?: (cli: CliExtension) => void): Promise<number> {
  let status: number = EXIT.ok;
  const setStatus = (n: number) => (status = n);
  // a command named first gets a program of that command alone, `--version` alone one without
  // commands; anything else (options, help, a name that is no command) the whole program, whose
  // help and suggestions name them all
  const first = argv[0];
  const versionOnly = argv.length === 1 && (first === '--version' || first === '-V');
  const only = versionOnly ? '' : first !== undefined && !first.startsWith('-') && first !== 'help' ? first : undefined;
  let program = buildProgram(setStatus, extend, only);
  if (only && !program.commands.some((c) => c.name() === only)) program = buildProgram(setStatus, extend);
  program.exitOverride();
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.error;
    if (e instanceof CliError) {
      err(`mmu-lab: ${e.message}\n`);
      return e.status;
    }
    err(`mmu-lab: ${oneLine((e as Error)?.message ?? String(e))}\n`);
    return EXIT.error;
  }
  return status;
}

// The `mmu-lab` entry is electron/host/cli.ts: these commands plus the host's (serve, where).
