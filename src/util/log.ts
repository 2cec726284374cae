/**
 * The I/O every stage logs through. The action wires it to @actions/core; the CLI to the terminal;
 * tests capture it. `secret` must be called on every credential before anything can print it.
 */
export interface Logger {
  info(message: string): void;
  warning(message: string): void;
  debug(message: string): void;
  /** Registers a value to be masked in all later output (core.setSecret / ::add-mask::). */
  secret(value: string): void;
  /** Runs `fn` inside a collapsible log group (core.group); loggers without groups print the title. */
  group?<T>(title: string, fn: () => Promise<T>): Promise<T>;
}

/** One pipeline stage in the log: a group where the logger has them, else its title as a line. */
export function stage<T>(logger: Logger, title: string, fn: () => Promise<T>): Promise<T> {
  if (logger.group) return logger.group(title, fn);
  logger.info(title);
  return fn();
}

/** A logger that prints nothing: for library callers and tests that do not read logs. */
export const silentLogger: Logger = {
  info: () => undefined,
  warning: () => undefined,
  debug: () => undefined,
  secret: () => undefined,
};

/**
 * Escapes a log line the way @actions/core escapes workflow-command data (`%` → `%25`, CR → `%0D`,
 * LF → `%0A`): the runner reads every stdout line that starts with `::` as a command, so a newline in
 * an untrusted string (a path, a blob name, a version from ARM, server output) must never reach it raw.
 * core.warning/debug/error escape their data themselves; core.info writes the line as given.
 */
export function escapeLogLine(message: string): string {
  return message.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
