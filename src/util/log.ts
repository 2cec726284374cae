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
}

/** A logger that prints nothing: for library callers and tests that do not read logs. */
export const silentLogger: Logger = {
  info: () => undefined,
  warning: () => undefined,
  debug: () => undefined,
  secret: () => undefined,
};
