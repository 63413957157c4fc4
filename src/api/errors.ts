/** Writes errors as `{ error: { code, message, details } }` with the status their class declares (src/errors.ts). */
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import {
  MalformedRequestError,
  PayloadTooLargeError,
  ServiceError,
  UnsupportedMediaTypeError,
  type FieldProblem,
} from '../errors';

/** Seconds a client should wait before retrying after a 503. */
const RETRY_AFTER_SECONDS = 2;

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

/** The client hung up before its request was read in full: nothing to answer, nothing of ours broke. */
const isAbortedRequest = (error: unknown): boolean => (error as { type?: unknown }).type === 'request.aborted';

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (isAbortedRequest(error)) {
      logger.info(
        { method: req.method, path: req.path, received: (error as { received?: unknown }).received },
        'request aborted by the client',
      );
      return;
    }
    const known = error instanceof ServiceError ? error : fromBodyParser(error);
    if (known) {
      const { status } = known;
      if (status === 503) res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
      if (status >= 500) logger.error({ err: known.cause ?? known, method: req.method, path: req.path }, known.message);
      sendError(res, status, known.code, known.message, known.details);
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, 'unhandled error');
    sendError(res, 500, 'internal', 'internal error');
  };
}
