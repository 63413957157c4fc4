/** The one place that maps errors to HTTP statuses and the error body `{ error: { code, message, details } }`. */
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import {
  ConflictError,
  NotFoundError,
  ServiceError,
  UnavailableError,
  ValidationError,
  type FieldProblem,
} from '../errors';

export class UnauthorizedError extends ServiceError {
  override readonly name = 'UnauthorizedError';
  readonly code = 'unauthorized';
}

/** The key is valid but its scope does not allow this route (e.g. an account key managing API keys). */
export class ForbiddenError extends ServiceError {
  override readonly name = 'ForbiddenError';
  readonly code = 'forbidden';
}

export class PayloadTooLargeError extends ServiceError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends ServiceError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'unsupported_media_type';
}

export class MalformedRequestError extends ServiceError {
  override readonly name = 'MalformedRequestError';
  readonly code = 'malformed_request';
}

/** Seconds a client should wait before retrying after a 503. */
const RETRY_AFTER_SECONDS = 2;

function statusOf(error: ServiceError): number {
  if (error instanceof ValidationError) return 422;
  if (error instanceof MalformedRequestError) return 400;
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof PayloadTooLargeError) return 413;
  if (error instanceof UnsupportedMediaTypeError) return 415;
  if (error instanceof UnavailableError) return 503;
  return 500;
}

export function sendError(
  res: Response,
  status: number,
  code: string,
  message: string,
  details: readonly FieldProblem[] = [],
): void {
  res.status(status).json({ error: { code, message, details } });
}

/** Errors Express (a path that is not valid percent-encoding) and body-parser raise before a route runs. */
function fromBodyParser(error: unknown): ServiceError | undefined {
  if (error instanceof URIError)
    return new MalformedRequestError('request path is not valid percent-encoding', [
      { path: 'path', message: 'is not valid percent-encoding' },
    ]);
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.parse.failed')
    return new MalformedRequestError('request body is not valid JSON', [
      { path: 'body', message: 'is not valid JSON' },
    ]);
  if (type === 'entity.too.large')
    return new PayloadTooLargeError('request body is too large', [{ path: 'body', message: 'exceeds the size limit' }]);
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new UnsupportedMediaTypeError('unsupported body encoding', [
      { path: 'content-type', message: 'charset must be utf-8' },
    ]);
  }
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const known = error instanceof ServiceError ? error : fromBodyParser(error);
    if (known) {
      const status = statusOf(known);
      if (status === 503) res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
      if (status >= 500) logger.error({ err: known.cause ?? known, method: req.method, path: req.path }, known.message);
      sendError(res, status, known.code, known.message, known.details);
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, 'unhandled error');
    sendError(res, 500, 'internal', 'internal error');
  };
}
