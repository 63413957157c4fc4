/**
 * What a receiver's answer means for the delivery: the one place that decides between done,
 * try again, and give up.
 */
import type { AttemptClass } from './metrics';

export type Outcome =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number | undefined }
  | { readonly kind: 'reject'; readonly reason: string };

/** Statuses whose Retry-After header we honour. */
const RETRY_AFTER_STATUSES = new Set([429, 503]);
/** 4xx statuses that mean "later", not "never". */
const RETRYABLE_CLIENT_ERRORS = new Set([408, 429]);

/**
 * An HTTP date starts with a day name (IMF-fixdate, RFC 850 and asctime forms alike). Checked
 * first because Date.parse also reads values such as "1.5" or "-5" as dates in 2001. HTTP dates
 * are GMT; the asctime form does not say so, and Date.parse would read it as local time.
 */
const HTTP_DATE_START = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i;

/** Milliseconds a Retry-After header asks for (delta-seconds or an HTTP date); undefined if absent or unusable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!HTTP_DATE_START.test(trimmed)) return undefined;
  const date = Date.parse(/ GMT$/i.test(trimmed) ? trimmed : `${trimmed} GMT`);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export function classifyResponse(statusCode: number, retryAfter: string | undefined, now: number): Outcome {
  if (statusCode >= 200 && statusCode < 300) return { kind: 'delivered' };
  const reason = `receiver answered HTTP ${statusCode}`;
  if (statusCode >= 400 && statusCode < 500 && !RETRYABLE_CLIENT_ERRORS.has(statusCode))
    return { kind: 'reject', reason };
  if (statusCode >= 300 && statusCode < 400) return { kind: 'retry', reason: `${reason} (redirects are not followed)` };
  const retryAfterMs = RETRY_AFTER_STATUSES.has(statusCode) ? parseRetryAfter(retryAfter, now) : undefined;
  return { kind: 'retry', reason, retryAfterMs };
}

/** Network errors, TLS errors and timeouts are worth another try. */
export function classifyError(error: unknown): Outcome {
  return { kind: 'retry', reason: describeError(error) };
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${typeof code === 'string' ? `${code}: ` : ''}${error.message}${cause}`;
}

/** Error codes of an attempt whose deadline passed (undici's own timeouts, the OS's). */
const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * True for the attempt deadline's abort (AbortSignal.timeout's DOMException) or a transport
 * timeout, however wrapped. Read by shape, not `instanceof`: a DOMException may come from another
 * realm.
 */
function isTimeout(error: unknown): boolean {
  let cause = error;
  for (let depth = 0; typeof cause === 'object' && cause !== null && depth < 4; depth += 1) {
    const { name, code } = cause as { name?: unknown; code?: unknown };
    if (name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code))) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The class of an attempt, for metrics: the answer's status class when there was one, else
 * `refused` (the target rules said no), `timeout` or `network`.
 */
export function attemptClassOf(attempt: {
  statusCode: number | undefined;
  error?: unknown;
  refused?: boolean;
}): AttemptClass {
  const { statusCode } = attempt;
  if (statusCode !== undefined) {
    if (statusCode < 300) return '2xx';
    if (statusCode < 400) return '3xx';
    if (statusCode < 500) return '4xx';
    return '5xx';
  }
  if (attempt.refused) return 'refused';
  return isTimeout(attempt.error) ? 'timeout' : 'network';
}
