/**
 * The HTTP server under the API: its timeouts, and errors Node's HTTP parser raises before any
 * route runs (malformed requests, timeouts) answered in the API's error shape.
 */
import { createServer, STATUS_CODES, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

/**
 * Chosen, not Node's defaults (60 s for headers, 300 s for a request, 5 s idle):
 * - headers: 10 s. A client has sent its request line and headers long before then; a slowloris
 *   client trickling headers holds a connection 10 s at most.
 * - request: 30 s for the whole request, body included: a 1 MiB body (the default limit) needs
 *   about 280 kbit/s. A client trickling its body is cut at 30 s with a 408. Once the request is
 *   read, the answer may take as long as it takes (a cancel waits up to 10 s on its workflow).
 * - keep-alive: 65 s idle between requests. Longer than the 60 s idle timeout of common load
 *   balancers (AWS ALB, nginx's upstream keepalive), so the balancer, not us, closes an idle
 *   connection, and never sends a request on one we are closing.
 * Node checks the first two every `connectionsCheckingInterval`: 1 s, so they hold to the second.
 */
export interface ServerTimeouts {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly checkingIntervalMs: number;
}

export const SERVER_TIMEOUTS: ServerTimeouts = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  checkingIntervalMs: 1_000,
});

/** What Node's parser reports, as status and error code. */
function answerFor(error: NodeJS.ErrnoException): { status: number; code: string; message: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request was not received in time' };
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'request_header_fields_too_large',
        message: 'the request line and headers exceed 16 KiB',
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'payload_too_large', message: 'chunk extensions are too large' };
    default:
      return { status: 400, code: 'malformed_request', message: 'the request is not valid HTTP/1.1' };
  }
}

/** A whole HTTP/1.1 response in the error shape, closing the connection. */
export function rawErrorResponse(status: number, code: string, message: string, detail: string): string {
  const body = JSON.stringify({ error: { code, message, details: [{ path: 'request', message: detail }] } });
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Node's parser failed on this connection (or a timeout struck). Node's own answer is a bare
 * status line; ours is the error shape, written only where the connection allows it:
 * - a request read in full is still being answered (bytes that followed it did not parse, say
 *   after `Connection: close`): its answer goes out first, then the connection closes. A client
 *   whose write was committed hears so.
 * - nothing of an answer has been written yet: the error, then close.
 * - else (an answer half written, a socket already gone): close.
 */
function onClientError(logger: Logger) {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    // ECONNRESET: the client reset the connection; HPE_INVALID_EOF_STATE: it closed its side mid-request.
    if (error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      // The client went away: an aborted request is logged where its body was being read.
      if (!inFlight) logger.debug({ code: error.code }, 'client closed the connection');
      socket.destroy();
      return;
    }
    if (inFlight && !inFlight.writableEnded && inFlight.req?.complete) {
      logger.info({ code: error.code }, 'bytes after a request did not parse; answering the request, then closing');
      inFlight.once('finish', () => socket.end());
      inFlight.once('close', () => socket.destroy());
      return;
    }
    const { status, code, message } = answerFor(error);
    logger.info({ code: error.code, status }, message);
    if (!inFlight || !inFlight.headersSent) {
      const detail = (error as { reason?: unknown }).reason;
      socket.end(rawErrorResponse(status, code, message, typeof detail === 'string' ? detail : String(error.code)));
      // Whatever the route still writes goes nowhere.
      socket.once('finish', () => socket.destroy());
      return;
    }
    socket.destroy();
  };
}

/** An HTTP server for `app` with the timeouts above and parser errors in the error shape. */
export function createHttpServer(
  app: RequestListener,
  logger: Logger,
  timeouts: ServerTimeouts = SERVER_TIMEOUTS,
): Server {
  const server = createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      connectionsCheckingInterval: timeouts.checkingIntervalMs,
    },
    app,
  );
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  server.on('clientError', onClientError(logger));
  return server;
}
