/**
 * How a command ends with a message and an exit code instead of a stack trace. Exit codes:
 * 0 ok, 1 runtime failure (cannot start, cannot write), 2 bad input (config, usage).
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  readonly exitCode: number;
  /** Printed to stderr one per line, each prefixed with `sipwarden: `. */
  readonly lines: readonly string[];

  constructor(exitCode: number, lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.lines = lines;
  }
}

/** `sipwarden: config error: listen[0].port: must be 1..65535`, one line per error. */
export function configError(errors: readonly string[]): CliError {
  return new CliError(
    EXIT_USAGE,
    errors.map((line) => `config error: ${line}`),
  );
}

export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const end = text.indexOf('\n');
  return end === -1 ? text : text.slice(0, end);
}
