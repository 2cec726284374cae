/**
 * A failure the user can cause and fix. `message` says what failed and why; `fix` says what to do.
 * The action prints exactly one `core.error` line for it: `${message} Fix: ${fix}`.
 */
export class UserError extends Error {
  readonly fix: string;
  constructor(message: string, fix: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
    // One casing for every fix ("Fix: Set ..."), whichever module wrote it.
    this.fix = fix.charAt(0).toUpperCase() + fix.slice(1);
  }

  /** The single line shown to the user. */
  override toString(): string {
    return `${this.message} Fix: ${this.fix}`;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
