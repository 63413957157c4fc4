/** The transport of a webhook: one POST, with a deadline, no redirects, and a capped response read. */
import { Agent, request, type Dispatcher } from 'undici';

/** How much of a receiver's answer is kept (and read at all). */
export const RESPONSE_BODY_LIMIT_BYTES = 1024;

export interface PostRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Whole-attempt deadline, ms: connect, send, and the answer's headers. */
  readonly timeoutMs: number;
  /** Aborts the request, e.g. when the delivery is cancelled. */
  readonly signal: AbortSignal;
}

export interface PostResponse {
  readonly statusCode: number;
  readonly retryAfter: string | undefined;
  /** At most RESPONSE_BODY_LIMIT_BYTES of the answer, as text. */
  readonly body: string;
}

/**
 * A keep-alive connection pool shared by all attempts of a worker.
 * `connect` options (e.g. a lookup that refuses private addresses) are passed through.
 */
export function createHttpAgent(connect?: Agent.Options['connect']): Agent {
  return new Agent({
    keepAliveTimeout: 10_000,
    connections: 64,
    ...(connect ? { connect } : {}),
  });
}

/** Reads at most `limit` bytes of a body, then drops the rest without reading it. */
async function readCapped(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    chunks.push(buffer);
    size += buffer.length;
    if (size >= limit) break;
  }
  // Breaking out of the loop destroys the stream: the rest is never read into memory.
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

export async function postWebhookRequest(agent: Dispatcher, req: PostRequest): Promise<PostResponse> {
  const deadline = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([req.signal, deadline]);
  const response = await request(req.url, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
    dispatcher: agent,
    signal,
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
  });
  const retryAfter = response.headers['retry-after'];
  // The status decides the outcome; a body cut off midway is kept as far as it came.
  const body = await readCapped(response.body, RESPONSE_BODY_LIMIT_BYTES).catch(() => '');
  return {
    statusCode: response.statusCode,
    retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
    body,
  };
}
