/**
 * Every error the service answers a request with, and its HTTP status: the one table of both.
 * The store, the Temporal client side and the API throw these; src/api/errors.ts writes them out
 * as `{ error: { code, message, details } }`.
 */

/** One problem with one field of a request, e.g. `{ path: "url", message: "must use https://" }`. */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

export abstract class ServiceError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  constructor(
    message: string,
    readonly details: readonly FieldProblem[] = [],
  ) {
    super(message);
  }
}

/** The request is not well-formed (JSON that does not parse, a path that is not valid percent-encoding). */
export class MalformedRequestError extends ServiceError {
  override readonly name = 'MalformedRequestError';
  readonly code = 'malformed_request';
  readonly status = 400;
}

export class UnauthorizedError extends ServiceError {
  override readonly name = 'UnauthorizedError';
  readonly code = 'unauthorized';
  readonly status = 401;
}

/** The key is valid but its scope does not allow this route (e.g. an account key managing API keys). */
export class ForbiddenError extends ServiceError {
  override readonly name = 'ForbiddenError';
  readonly code = 'forbidden';
  readonly status = 403;
}

export class NotFoundError extends ServiceError {
  override readonly name = 'NotFoundError';
  readonly code = 'not_found';
  readonly status = 404;
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
  readonly status = 409;
}

export class PayloadTooLargeError extends ServiceError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = 'payload_too_large';
  readonly status = 413;
}

export class UnsupportedMediaTypeError extends ServiceError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'unsupported_media_type';
  readonly status = 415;
}

/** The request is well-formed JSON but a field breaks a rule (unknown event type, bad URL…). */
export class ValidationError extends ServiceError {
  override readonly name = 'ValidationError';
  readonly code = 'validation_failed';
  readonly status = 422;
}

/** A dependency (store, Temporal) cannot be reached; the client should retry later. */
export class UnavailableError extends ServiceError {
  override readonly name = 'UnavailableError';
  readonly code = 'unavailable';
  readonly status = 503;
}
