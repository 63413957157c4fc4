/**
 * A demo webhook receiver for the README walkthrough: prints every webhook it gets and checks its
 * Standard Webhooks signature, the way a real receiver should.
 *
 *   WEBHOOK_SECRET='whsec_…' npm run receiver
 *
 * RECEIVER_PORT   port on 127.0.0.1 (default 4000)
 * WEBHOOK_SECRET  the subscription's signing secret; several, space-separated, during a rotation.
 *                 Unset: webhooks are printed and accepted, but not verified.
 *
 * Prints each webhook's `traceparent` too: with tracing on (README, "Observability"), the trace of
 * the event in the service, which a receiver's own spans may continue.
 *
 * Answers 204 to a verified webhook (or to any webhook when no secret is set), 401 when the
 * signature does not verify. A repeated webhook-id (a retry or a resend) is answered 204 again
 * and reported as a repeat, without processing it twice.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

const HOST = '127.0.0.1';
const DEFAULT_PORT = 4000;
/** Larger bodies are refused with 413. */
const MAX_BODY_BYTES = 1024 * 1024;
/** How many webhook ids are remembered for deduplication (oldest forgotten first). */
const REMEMBERED_IDS = 10_000;

function fail(message: string): never {
  console.error(`receiver: ${message}`);
  process.exit(1);
}

function readPort(): number {
  const raw = process.env.RECEIVER_PORT;
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`RECEIVER_PORT must be a port number (1-65535), not '${raw}'`);
  return port;
}

/** One verifier per secret; none when WEBHOOK_SECRET is unset. */
function readVerifiers(): Webhook[] {
  const secrets = (process.env.WEBHOOK_SECRET ?? '').split(/\s+/).filter((secret) => secret.length > 0);
  return secrets.map((secret) => {
    if (!secret.startsWith('whsec_')) fail(`WEBHOOK_SECRET must be the subscription's secret, starting with "whsec_"`);
    try {
      return new Webhook(secret);
    } catch (error) {
      return fail(`WEBHOOK_SECRET is not a valid secret: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
}

type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string } | { readonly ok: 'unchecked' };

/** Verified when any of the secrets verifies the signature (all must fail for a refusal). */
function verify(verifiers: readonly Webhook[], body: string, headers: IncomingMessage['headers']): Verdict {
  if (verifiers.length === 0) return { ok: 'unchecked' };
  const webhookHeaders: Record<string, string> = {};
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = headers[name];
    if (typeof value === 'string') webhookHeaders[name] = value;
  }
  let reason = 'no secret matched';
  for (const verifier of verifiers) {
    try {
      verifier.verify(body, webhookHeaders);
      return { ok: true };
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      reason = error.message;
    }
  }
  return { ok: false, reason };
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : undefined));
    req.on('error', reject);
  });
}

/** The envelope the service sends: `{ id, type, timestamp, accountId, data }`. */
function summarize(body: string): { type: string; accountId: string; data: string } {
  try {
    const parsed = JSON.parse(body) as { type?: unknown; accountId?: unknown; data?: unknown };
    return {
      type: typeof parsed.type === 'string' ? parsed.type : '(no type)',
      accountId: typeof parsed.accountId === 'string' ? parsed.accountId : '(none)',
      data: JSON.stringify(parsed.data, null, 2) ?? '(no data)',
    };
  } catch {
    return { type: '(body is not JSON)', accountId: '(none)', data: body.slice(0, 2000) };
  }
}

function answer(res: ServerResponse, status: number, text?: string): void {
  if (text === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
}

function main(): void {
  const port = readPort();
  const verifiers = readVerifiers();
  /** webhook-id → times seen, in the order first seen. */
  const seen = new Map<string, number>();
  let received = 0;

  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST') {
        answer(res, 405, 'send webhooks with POST');
        return;
      }
      const body = await readBody(req);
      if (body === undefined) {
        answer(res, 413, `body larger than ${MAX_BODY_BYTES} bytes`);
        return;
      }
      received += 1;
      const id = typeof req.headers['webhook-id'] === 'string' ? req.headers['webhook-id'] : undefined;
      const { type, accountId, data } = summarize(body);
      const verdict = verify(verifiers, body, req.headers);
      const lines = [
        `#${received} ${new Date().toISOString()} POST ${req.url ?? '/'}`,
        `  webhook-id: ${id ?? '(missing)'}`,
        `  type:       ${type}`,
        `  account:    ${accountId}`,
        // The service's trace of this event (tracing on: OTEL_* set); a receiver may continue it.
        `  traceparent: ${typeof req.headers.traceparent === 'string' ? req.headers.traceparent : '(none)'}`,
        `  data:       ${data.split('\n').join('\n              ')}`,
      ];

      if (verdict.ok === false) {
        lines.push(`  signature:  INVALID (${verdict.reason}) → 401`);
        console.log(lines.join('\n'));
        answer(res, 401, 'invalid signature');
        return;
      }
      lines.push(
        verdict.ok === true
          ? '  signature:  verified'
          : '  signature:  NOT CHECKED (WEBHOOK_SECRET is not set, so this receiver cannot verify it)',
      );

      const times = id === undefined ? 0 : (seen.get(id) ?? 0);
      if (id !== undefined) {
        seen.delete(id);
        seen.set(id, times + 1);
        if (seen.size > REMEMBERED_IDS) seen.delete(seen.keys().next().value as string);
      }
      lines.push(
        times > 0
          ? `  REPEAT: webhook-id already seen ${times} time(s) (a retry or a resend); not processed again → 204`
          : '  processed → 204',
      );
      console.log(lines.join('\n'));
      answer(res, 204);
    })().catch((error: unknown) => {
      console.error('receiver: could not handle a request:', error);
      if (!res.headersSent) answer(res, 500, 'receiver error');
    });
  });

  server.on('error', (error: NodeJS.ErrnoException) => {
    fail(error.code === 'EADDRINUSE' ? `port ${port} is in use; set RECEIVER_PORT to another port` : error.message);
  });
  server.listen(port, HOST, () => {
    const mode =
      verifiers.length > 0
        ? `verifying signatures with ${verifiers.length === 1 ? 'the secret' : `${verifiers.length} secrets`} in WEBHOOK_SECRET`
        : 'NOT verifying signatures: set WEBHOOK_SECRET to the subscription secret to check them';
    console.log(`receiver listening on http://${HOST}:${port}/ (any path), ${mode}`);
  });

  const stop = (): void => {
    console.log(`\nreceiver: stopping after ${received} webhook(s), ${seen.size} distinct id(s)`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main();
