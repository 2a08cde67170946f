/** What the process hosting the CLI (bin/tsvmm) is told about a run. */
export interface HostHooks {
  /**
   * Called once by `run`, as soon as a machine is to run but no earlier than its hart realms'
   * start: before the machine is built, or, when hart realms start with the run, once they
   * have. bin/tsvmm sets V8's budgets here (bin/v8-flags.cjs says why not earlier).
   */
  runStarting?: () => void;
}

/** A `tsvmm` subcommand. `run` returns the process exit code. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  run(argv: string[], hooks?: HostHooks): Promise<number> | number;
}

/** A usage error: printed as one line on stderr, exit code from the command's convention. */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UsageError';
  }
}
