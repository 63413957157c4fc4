import { UnavailableError } from '../errors';

/** The store cannot be reached; the API answers 503 with Retry-After. */
export class StoreUnavailableError extends UnavailableError {
  constructor(cause: unknown) {
    super('the store is unavailable; retry later');
    this.cause = cause;
  }
}

/**
 * Network errors, PostgreSQL's connection-exception class (08…), its shutdown codes (57P01–03) and
 * "too many clients" (53300): the server cannot serve us now, and a retry later may succeed.
 */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  // pg and pg-pool raise these without a code (the last one when no connection frees up in time).
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
    error.message,
  );
}
