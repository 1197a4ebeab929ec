/**
 * The CLI's exit statuses and the one error a command throws to fail with one line on stderr
 * (main.ts prints it): shared by every command module and by the host's commands (electron/host).
 *
 * Exit status: 0 success (a session with only `info` diagnostics is clean), 1 error,
 * 2 the session opened but data was lost (verify, info), 64 usage errors from commander are 1.
 */
export const EXIT = { ok: 0, error: 1, dataLoss: 2 } as const;

/** A failure to report as one line on stderr. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status: number = EXIT.error,
  ) {
    super(message);
  }
}
