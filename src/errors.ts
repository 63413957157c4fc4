/** One problem with one field of a request, e.g. `{ path: "url", message: "must use https://" }`. */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/** Base of the errors the API maps to an HTTP status in src/api/errors.ts. */
export abstract class ServiceError extends Error {
  abstract readonly code: string;
  constructor(
    message: string,
    readonly details: readonly FieldProblem[] = [],
  ) {
    super(message);
  }
}

/** The request is well-formed JSON but a field breaks a rule (unknown event type, bad URL…). */
export class ValidationError extends ServiceError {
  override readonly name = 'ValidationError';
  readonly code = 'validation_failed';
}

export class NotFoundError extends ServiceError {
  override readonly name = 'NotFoundError';
  readonly code = 'not_found';
  constructor(
    readonly resource: string,
    readonly id: string,
  ) {
    super(`${resource} '${id}' not found`);
  }
}

export class ConflictError extends ServiceError {
  override readonly name = 'ConflictError';
  readonly code = 'conflict';
}

/** A dependency (store, Temporal) cannot be reached; the client should retry later. */
export class UnavailableError extends ServiceError {
  override readonly name = 'UnavailableError';
  readonly code = 'unavailable';
}
