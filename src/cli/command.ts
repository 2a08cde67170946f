/** A `tsvmm` subcommand. `run` returns the process exit code. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  run(argv: string[]): Promise<number> | number;
}

/** A usage error: printed as one line on stderr, exit code from the command's convention. */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UsageError';
  }
}
