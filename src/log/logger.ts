/**
 * The logging surface the rest of the code sees: pino's level methods with a context
 * object first. Kept as an interface so pure modules and tests need not build pino.
 */
export interface LogFn {
  (context: Record<string, unknown>, message: string): void;
  (message: string): void;
}

export interface Logger {
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

const noop: LogFn = () => {};

/** A logger that writes nothing: for tests and pure callers. */
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => silentLogger,
};
