/** An error with the HTTP status it answers with; the message is safe to show to clients. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * A failure of the inference service in its own terms (it knows nothing of HTTP); the HTTP edge
 * (app.ts's error handler) answers each kind with its status, as TEI's router maps its errors.
 */
export type ServiceErrorKind =
  | 'invalid-input' // the request cannot run on this model (400)
  | 'too-large' // more rows than MAX_TEXTS (413)
  | 'unavailable' // queue full, timed out or shutting down: retry later (503 + Retry-After)
  | 'failed'; // the server's own failure (500)

export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly kind: ServiceErrorKind,
    message: string,
    /** For `unavailable`: when to retry. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
