/**
 * Signing secrets: rotation with a grace period during which deliveries carry both signatures
 * (verified with the standardwebhooks package), and no secret or API key in logs, error
 * messages, workflow inputs, search attributes or memos over a full cycle, failures included.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { generateSecret } from '../../core/signing';
import { startHarness, type Harness } from '../helpers/harness';
import { always, sequence, TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { capturingLogger } from './support';
import { FAST_RETRY } from '../helpers/retry-policies';

/** Everything the Temporal SDK logs in this process (worker, activities), kept for the leak check. */
const sdkLog: string[] = [];
let sdkLogCaptured = true;
try {
  Runtime.install({
    logger: new DefaultLogger('DEBUG', (entry) =>
      sdkLog.push(`${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}`),
    ),
  });
} catch {
  // A runtime was installed before this file ran: its logs are then not checked here.
  sdkLogCaptured = false;
}

let env: TestWorkflowEnvironment;
let h: Harness;
const logs = capturingLogger();
const receivers: TestReceiver[] = [];
/** Every secret and key this file creates or sends: none may leak. */
const secrets = new Set<string>();
/** Every API answer, to check that error messages carry no secret either. */
const answers: string[] = [];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, logger: logs.logger, attemptTimeoutMs: 1_000 });
  secrets.add(h.apiKey);
  await call('POST', '/v1/event-types', { id: 'order.created' });
  await call('POST', '/v1/event-types', { id: 'leak.tested' });
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await h?.close();
  await env?.teardown();
});

async function call(method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const res = await h.call(method, path, body, headers);
  answers.push(`${method} ${path} ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

async function receiver(script = always(200)): Promise<TestReceiver> {
  const r = await TestReceiver.start(script);
  receivers.push(r);
  return r;
}

async function subscribe(url: string, extra: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
  const res = await call('POST', '/v1/subscriptions', {
    url,
    eventTypes: ['order.created'],
    retryPolicy: FAST_RETRY,
    ...extra,
  });
  expect(res.status).toBe(201);
  secrets.add(res.body.secret);
  return res.body;
}

async function rotate(
  id: string,
  body: Record<string, unknown> = {},
): Promise<{ secret: string; previousSecretExpiresAt: string | null }> {
  const res = await call('POST', `/v1/subscriptions/${id}/secret/rotate`, body);
  expect(res.status).toBe(200);
  secrets.add(res.body.secret);
  return res.body;
}

async function deliverOne(r: TestReceiver, subscriptionId: string, data: unknown = { n: 1 }) {
  const before = r.requests.length;
  const event = await call('POST', '/v1/events', { type: 'order.created', data });
  expect(event.status).toBe(202);
  const [, request] = [undefined, (await r.waitForRequests(before + 1))[before]!];
  const delivery = (await call('GET', `/v1/deliveries?eventId=${event.body.id}&subscriptionId=${subscriptionId}`)).body
    .data[0];
  return { request, delivery };
}

const signaturesOf = (headers: Record<string, unknown>): string[] => String(headers['webhook-signature']).split(' ');
const verifies = (secret: string, request: { body: string; headers: Record<string, unknown> }): boolean => {
  try {
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
};

describe('secret rotation', () => {
  test('during the grace period every delivery carries both signatures; either secret verifies', async () => {
    const r = await receiver();
    const sub = await subscribe(r.url);
    const rotated = await rotate(sub.id);
    expect(rotated.secret).not.toBe(sub.secret);
    const expiresIn = Date.parse(rotated.previousSecretExpiresAt!) - Date.now();
    expect(expiresIn).toBeGreaterThan(23.9 * 3_600_000);
    expect(expiresIn).toBeLessThanOrEqual(24 * 3_600_000);
    expect((await call('GET', `/v1/subscriptions/${sub.id}/secret`)).body.secret).toBe(rotated.secret);

    const { request } = await deliverOne(r, sub.id);
    expect(signaturesOf(request.headers)).toHaveLength(2);
    expect(signaturesOf(request.headers).every((s) => s.startsWith('v1,'))).toBe(true);
    expect(verifies(rotated.secret, request)).toBe(true);
    expect(verifies(sub.secret, request)).toBe(true);
    expect(verifies(generateSecret(), request)).toBe(false);
  });

  test('gracePeriod "0s" drops the old secret at once', async () => {
    const r = await receiver();
    const sub = await subscribe(r.url);
    const rotated = await rotate(sub.id, { gracePeriod: '0s' });
    expect(rotated.previousSecretExpiresAt).toBeNull();
    const { request } = await deliverOne(r, sub.id);
    expect(signaturesOf(request.headers)).toHaveLength(1);
    expect(verifies(rotated.secret, request)).toBe(true);
    expect(verifies(sub.secret, request)).toBe(false);
  });

  test('after the grace period only the new secret signs', async () => {
    const r = await receiver();
    const sub = await subscribe(r.url);
    const rotated = await rotate(sub.id, { gracePeriod: '1s' });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const { request } = await deliverOne(r, sub.id);
    expect(signaturesOf(request.headers)).toHaveLength(1);
    expect(verifies(rotated.secret, request)).toBe(true);
    expect(verifies(sub.secret, request)).toBe(false);
  });

  test('a second rotation keeps the secret it replaces and drops the oldest; a chosen secret is used as given', async () => {
    const r = await receiver();
    const sub = await subscribe(r.url);
    const middle = await rotate(sub.id);
    const chosen = generateSecret();
    const newest = await rotate(sub.id, { secret: chosen, gracePeriod: '1h' });
    expect(newest.secret).toBe(chosen);
    const { request } = await deliverOne(r, sub.id);
    expect(signaturesOf(request.headers)).toHaveLength(2);
    expect(verifies(chosen, request)).toBe(true);
    expect(verifies(middle.secret, request)).toBe(true);
    expect(verifies(sub.secret, request)).toBe(false);
  });

  test.each([
    ['a malformed secret', { secret: 'whsec_c2hvcnQ=' }, 'secret'],
    ['a secret without the prefix', { secret: Buffer.alloc(32, 7).toString('base64') }, 'secret'],
    ['a grace period over 7 days', { gracePeriod: '8d' }, 'gracePeriod'],
    ['a grace period that is not a duration', { gracePeriod: 'soon' }, 'gracePeriod'],
    ['an unknown field', { keepOld: true }, 'body'],
  ])('%s → 422, secret unchanged', async (_what, body, path) => {
    const sub = await subscribe('http://127.0.0.1:9/never', { active: false });
    const res = await call('POST', `/v1/subscriptions/${sub.id}/secret/rotate`, body);
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe(path);
    if (typeof (body as { secret?: string }).secret === 'string')
      expect(JSON.stringify(res.body)).not.toContain((body as { secret: string }).secret);
    expect((await call('GET', `/v1/subscriptions/${sub.id}/secret`)).body.secret).toBe(sub.secret);
  });

  test('rotating to the current secret → 422 without echoing it; unknown subscription → 404', async () => {
    const sub = await subscribe('http://127.0.0.1:9/never', { active: false });
    const res = await call('POST', `/v1/subscriptions/${sub.id}/secret/rotate`, { secret: sub.secret });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).not.toContain(sub.secret);
    expect((await call('POST', '/v1/subscriptions/sub_00000000000000000000000000/secret/rotate', {})).status).toBe(404);
  });
});

describe('no secret and no API key leaks', () => {
  test('a full cycle: success, retry, final failure, callback, rotation, key management, bad input', async () => {
    // Deliveries that succeed after a retry, fail for good, and go to a one-off callback URL.
    const flaky = await receiver(sequence({ status: 500, body: 'try later' }, { status: 200 }));
    const flakySub = await subscribe(flaky.url, { eventTypes: ['leak.tested'] });
    const gone = await receiver(always(404));
    const goneSub = await subscribe(gone.url, { eventTypes: ['leak.tested'], headers: { 'x-team': 'payments' } });
    const callback = await receiver();
    const event = await call('POST', '/v1/events', {
      type: 'leak.tested',
      data: { order: 7 },
      callbackUrl: callback.url,
    });
    expect(event.status).toBe(202);
    secrets.add(event.body.callbackSecret);
    await rotate(goneSub.id);

    // Managed keys: create, use, revoke, use again.
    const created = await call('POST', '/v1/api-keys', { scope: 'account:leaky', name: 'leak check' });
    secrets.add(created.body.key);
    expect(
      (await call('GET', '/v1/subscriptions', undefined, { authorization: `Bearer ${created.body.key}` })).status,
    ).toBe(200);
    await call('DELETE', `/v1/api-keys/${created.body.id}`);
    expect(
      (await call('GET', '/v1/subscriptions', undefined, { authorization: `Bearer ${created.body.key}` })).status,
    ).toBe(401);

    // Bad input that carries secrets: they must not come back in error messages.
    const offered = generateSecret();
    secrets.add(offered);
    const bad = await call('POST', '/v1/subscriptions', {
      url: 'ftp://x',
      eventTypes: ['order.created'],
      secret: offered,
    });
    expect(bad.status).toBe(422);
    const badSecret = `whsec_${Buffer.alloc(8, 9).toString('base64')}`;
    secrets.add(badSecret);
    expect(
      (await call('POST', '/v1/subscriptions', { url: flaky.url, eventTypes: ['order.created'], secret: badSecret }))
        .status,
    ).toBe(422);
    const wrongKey = `whk_${'a'.repeat(26)}_${'b'.repeat(43)}`;
    secrets.add(wrongKey);
    expect((await call('GET', '/v1/deliveries', undefined, { authorization: `Bearer ${wrongKey}` })).status).toBe(401);

    const deliveries = await waitFor(async () => {
      const list = (await call('GET', `/v1/deliveries?eventId=${event.body.id}`)).body.data as any[];
      return list.length === 3 && list.every((d) => d.status !== 'pending') ? list : undefined;
    }, 'the three deliveries to finish');
    const byTarget = Object.fromEntries(deliveries.map((d) => [d.subscriptionId ?? 'callback', d]));
    expect(byTarget[flakySub.id]).toMatchObject({ status: 'succeeded', attemptCount: 2 });
    expect(byTarget[goneSub.id]).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(byTarget.callback).toMatchObject({ status: 'succeeded' });

    // What is searched for: each secret, and the base64 key inside each signing secret.
    const needles = [...secrets].flatMap((secret) =>
      secret.startsWith('whsec_') ? [secret, secret.slice('whsec_'.length)] : [secret],
    );
    expect(needles.length).toBeGreaterThanOrEqual(10);
    const leaksIn = (text: string): string[] => needles.filter((needle) => text.includes(needle));

    // Logs: ours (every level) and the SDK's.
    const ourLogs = logs.text();
    expect(ourLogs).toContain('webhook attempt');
    expect(leaksIn(ourLogs)).toEqual([]);
    if (sdkLogCaptured) expect(sdkLog.join('\n')).toMatch(/Activity failed/);
    expect(leaksIn(sdkLog.join('\n'))).toEqual([]);

    // Error messages: every answer of the API in this file, except the ones meant to carry a secret.
    const errorAnswers = answers.filter((answer) => / (4|5)\d\d /.test(answer));
    expect(errorAnswers.length).toBeGreaterThanOrEqual(4);
    expect(leaksIn(errorAnswers.join('\n'))).toEqual([]);

    // Workflow histories (inputs, results, failures, search attributes, memos) and descriptions.
    const workflowIds = (await h.store.db.query<{ workflow_id: string }>('SELECT workflow_id FROM deliveries')).map(
      (row) => row.workflow_id,
    );
    expect(workflowIds.length).toBeGreaterThanOrEqual(3);
    for (const workflowId of workflowIds) {
      const handle = h.client.workflow.getHandle(workflowId);
      const history = await handle.fetchHistory();
      const described = await handle.describe();
      const text = searchable({
        history,
        described: { ...described, raw: undefined },
        memo: described.memo,
        attributes: described.typedSearchAttributes,
      });
      // The payloads were decoded: the workflow input (ids and settings only) is readable here.
      expect(text).toMatch(/"deliveryId":"dlv_/);
      expect(leaksIn(text)).toEqual([]);
    }
  });
});

/**
 * JSON of a value with every payload readable: bytes and base64 strings (as history payloads are
 * rendered) are appended decoded, so a secret is found however it was encoded.
 */
function searchable(value: unknown): string {
  const json = JSON.stringify(value, (_key, item: unknown) => {
    if (item instanceof Uint8Array) return Buffer.from(item).toString('base64');
    if (typeof item === 'bigint') return item.toString();
    return item;
  });
  const decoded = [...json.matchAll(/"([A-Za-z0-9+/]{8,}={0,2})"/g)].map((match) =>
    Buffer.from(match[1] as string, 'base64').toString('utf8'),
  );
  return `${json}\n${decoded.join('\n')}`;
}
