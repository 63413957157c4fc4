/**
 * SSRF with the guard on (WEBHOOKS_ALLOW_INSECURE_TARGETS unset), end to end: refused when saved,
 * refused again at the attempt on the address actually connected to (DNS rebinding), redirects
 * not followed, certificates verified. Host names come from a stub resolver, never the network.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Agent, request } from 'undici';
import { Webhook } from 'standardwebhooks';
import { targetConnector } from '../../activities/connect';
import { startHarness, type Harness } from '../helpers/harness';
import { always, TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { HttpsReceiver, selfSignedCertificate, stubResolver, type Certificate } from './support';
import { WorkflowFailedError } from '@temporalio/client';

const PUBLIC_ADDRESS = '93.184.215.34';
const ONE_ATTEMPT = { initialInterval: '1s', maximumAttempts: 1 };
const TYPES = {
  rebind: 'rebind.tested',
  literal: 'literal.tested',
  redirect: 'redirect.tested',
  trusted: 'tls.trusted',
  untrusted: 'tls.untrusted',
};

let env: TestWorkflowEnvironment;
/** Guard on, nothing opened. */
let strict: Harness;
/** Guard on, 127.0.0.1 opened (as an operator opens an internal range), and one test CA trusted. */
let opened: Harness;
const dns = stubResolver({
  'hooks.example.test': [PUBLIC_ADDRESS],
  'receiver.test': ['127.0.0.1'],
  'untrusted.test': ['127.0.0.1'],
});
let trusted: Certificate;
let untrusted: Certificate;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [trusted, untrusted] = await Promise.all([
    selfSignedCertificate(['receiver.test']),
    selfSignedCertificate(['untrusted.test']),
  ]);
  env = await createTestTemporal();
  strict = await startHarness({ env, targets: { allowInsecure: false, resolve: dns } });
  opened = await startHarness({
    env,
    targets: { allowInsecure: false, resolve: dns, allowedCidrs: ['127.0.0.1/32'] },
    extraCa: trusted.cert,
  });
  // One event type per test, so that an event reaches only the subscription of its own test.
  for (const h of [strict, opened]) {
    for (const id of ['order.created', ...Object.values(TYPES)])
      expect((await h.call('POST', '/v1/event-types', { id })).status).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await strict?.close();
  await opened?.close();
  await env?.teardown();
});

async function receiver(): Promise<TestReceiver> {
  const r = await TestReceiver.start(always(200));
  closers.push(() => r.close());
  return r;
}

async function finished(h: Harness, eventId: string): Promise<any> {
  return waitFor(async () => {
    const list = await h.call('GET', `/v1/deliveries?eventId=${eventId}`);
    const delivery = list.body.data?.[0];
    return delivery && delivery.status !== 'pending' ? delivery : undefined;
  }, `the delivery of ${eventId} to finish`);
}

const subscriptionCount = async (h: Harness): Promise<number> =>
  (await h.store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM subscriptions'))[0]?.n ?? -1;

/** URLs refused when saved, and why. */
const SAVE_REFUSALS: Array<[string, RegExp]> = [
  ['https://127.0.0.1/hook', /127\.0\.0\.1 is a loopback address/],
  ['https://2130706433/hook', /loopback/],
  ['https://[::1]/hook', /loopback/],
  ['https://[::ffff:169.254.169.254]/latest/meta-data/', /link-local.*IPv4-mapped/],
  ['https://169.254.169.254/latest/meta-data/', /link-local/],
  ['https://10.1.2.3/hook', /private/],
  ['https://100.64.0.1/hook', /carrier-grade NAT/],
  ['https://224.0.0.1/hook', /multicast/],
  ['https://0.0.0.0/hook', /unspecified/],
  ['https://[fd00::1]/hook', /unique local/],
  ['https://[fe80::1]/hook', /link-local/],
  ['https://[64:ff9b::a00:1]/hook', /private.*NAT64/],
  ['https://receiver.test/hook', /receiver\.test resolves to 127\.0\.0\.1, which is a loopback address/],
  ['https://nowhere.test/hook', /could not be resolved/],
  ['http://hooks.example.test/hook', /must use https:\/\//],
  ['https://user:pass@hooks.example.test/hook', /must not contain credentials/],
  [`https://hooks.example.test/${'a'.repeat(2048)}`, /at most 2048 characters/],
];

const shortTitle = (url: string): string => (url.length > 80 ? `${url.slice(0, 40)}… (${url.length} characters)` : url);

describe('refused when saved', () => {
  test.each(SAVE_REFUSALS.map(([url, reason]) => ({ title: shortTitle(url), url, reason })))(
    'subscription url $title → 422',
    async ({ url, reason }) => {
      const before = await subscriptionCount(strict);
      const res = await strict.call('POST', '/v1/subscriptions', { url, eventTypes: ['order.created'] });
      expect(res.status).toBe(422);
      expect(res.body.error.details).toEqual([{ path: 'url', message: expect.stringMatching(reason) }]);
      expect(await subscriptionCount(strict)).toBe(before);
    },
  );

  test('a subscription moved to a forbidden URL by PATCH → 422, unchanged', async () => {
    const created = await strict.call('POST', '/v1/subscriptions', {
      url: 'https://hooks.example.test/in',
      eventTypes: ['order.created'],
      active: false,
    });
    expect(created.status).toBe(201);
    const res = await strict.call('PATCH', `/v1/subscriptions/${created.body.id}`, { url: 'https://169.254.169.254/' });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0]).toMatchObject({ path: 'url', message: expect.stringMatching(/link-local/) });
    expect((await strict.call('GET', `/v1/subscriptions/${created.body.id}`)).body.url).toBe(
      'https://hooks.example.test/in',
    );
  });

  test("an event's callbackUrl on a forbidden address → 422, no event stored", async () => {
    const res = await strict.call('POST', '/v1/events', {
      type: 'order.created',
      data: {},
      id: 'evt-callback-ssrf',
      callbackUrl: 'https://receiver.test/x',
    });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0]).toMatchObject({
      path: 'callbackUrl',
      message: expect.stringMatching(/loopback/),
    });
    expect((await strict.call('GET', '/v1/events/evt-callback-ssrf')).status).toBe(404);
  });
});

describe('refused at the attempt, on the address connected to', () => {
  test('DNS rebinding: public when saved, loopback at the attempt → failed as final, nothing sent', async () => {
    const r = await receiver();
    const port = new URL(r.url).port;
    dns.table.set('rebind.test', [PUBLIC_ADDRESS]);
    const sub = await strict.call('POST', '/v1/subscriptions', {
      url: `https://rebind.test:${port}/webhook`,
      eventTypes: [TYPES.rebind],
    });
    expect(sub.status).toBe(201);
    dns.table.set('rebind.test', ['127.0.0.1']);

    const event = await strict.call('POST', '/v1/events', { type: TYPES.rebind, data: { n: 1 } });
    expect(event.status).toBe(202);
    const delivery = await finished(strict, event.body.id);
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery.attempts[0].statusCode).toBeUndefined();
    expect(delivery.attempts[0].error).toMatch(/rebind\.test resolves to 127\.0\.0\.1, which is a loopback address/);
    // The workflow ends Failed, TargetRefused, with the refusal as its message.
    const failure = await strict.client.workflow
      .getHandle(delivery.workflowId)
      .result()
      .then(
        () => undefined,
        (error: unknown) => (error instanceof WorkflowFailedError ? error.cause : error),
      );
    expect(failure).toMatchObject({ type: 'TargetRefused', message: expect.stringMatching(/loopback/) });
    expect(r.requests).toHaveLength(0);
  });

  test('a literal forbidden address that reached the store another way is refused at the attempt', async () => {
    const r = await receiver();
    const sub = await strict.call('POST', '/v1/subscriptions', {
      url: 'https://hooks.example.test/in',
      eventTypes: [TYPES.literal],
      active: false,
    });
    // As if saved under a wider policy, or written by hand.
    await strict.store.db.query('UPDATE subscriptions SET url = $2, active = true WHERE id = $1', [
      sub.body.id,
      r.url.replace('http://', 'https://'),
    ]);
    const event = await strict.call('POST', '/v1/events', { type: TYPES.literal, data: {} });
    const delivery = await finished(strict, event.body.id);
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, subscriptionId: sub.body.id });
    expect(delivery.attempts[0].error).toMatch(/127\.0\.0\.1 is a loopback address/);
    expect(r.requests).toHaveLength(0);
  });
});

describe('redirects and certificates', () => {
  test('a redirect is never followed, even to an address the worker could reach', async () => {
    const target = await receiver();
    const redirecting = await HttpsReceiver.start(trusted, () => ({ status: 302, headers: { location: target.url } }));
    closers.push(() => redirecting.close());
    const sub = await opened.call('POST', '/v1/subscriptions', {
      url: `https://receiver.test:${redirecting.port}/webhook`,
      eventTypes: [TYPES.redirect],
      retryPolicy: ONE_ATTEMPT,
    });
    expect(sub.status).toBe(201);
    const event = await opened.call('POST', '/v1/events', { type: TYPES.redirect, data: {} });
    const delivery = await finished(opened, event.body.id);
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery.attempts[0]).toMatchObject({
      statusCode: 302,
      error: expect.stringMatching(/redirects are not followed/),
    });
    expect(redirecting.requests).toHaveLength(1);
    expect(target.requests).toHaveLength(0);
  });

  test('a self-signed receiver whose certificate is trusted gets the webhook, signed', async () => {
    const r = await HttpsReceiver.start(trusted);
    closers.push(() => r.close());
    const sub = await opened.call('POST', '/v1/subscriptions', {
      url: `https://receiver.test:${r.port}/webhook`,
      eventTypes: [TYPES.trusted],
      retryPolicy: ONE_ATTEMPT,
    });
    expect(sub.status).toBe(201);
    const event = await opened.call('POST', '/v1/events', { type: TYPES.trusted, data: { tls: true } });
    const delivery = await finished(opened, event.body.id);
    expect(delivery).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(r.requests).toHaveLength(1);
    const [got] = r.requests;
    expect(new Webhook(sub.body.secret).verify(got!.body, got!.headers as Record<string, string>)).toMatchObject({
      data: { tls: true },
    });
  });

  test('a self-signed receiver whose certificate is not trusted is refused by TLS', async () => {
    const r = await HttpsReceiver.start(untrusted);
    closers.push(() => r.close());
    const sub = await opened.call('POST', '/v1/subscriptions', {
      url: `https://untrusted.test:${r.port}/webhook`,
      eventTypes: [TYPES.untrusted],
      retryPolicy: ONE_ATTEMPT,
    });
    expect(sub.status).toBe(201);
    const event = await opened.call('POST', '/v1/events', { type: TYPES.untrusted, data: {} });
    const delivery = await finished(opened, event.body.id);
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery.attempts[0].error).toMatch(/self[- ]signed certificate/i);
    expect(r.requests).toHaveLength(0);
  });
});

describe('the same self-signed receiver, with and without its CA', () => {
  test('refused without the CA, accepted with it; a name the certificate does not cover is refused', async () => {
    const r = await HttpsReceiver.start(trusted);
    closers.push(() => r.close());
    const policy = { allowInsecure: false, resolve: dns, allowedCidrs: ['127.0.0.1/32'] };
    const post = async (host: string, extraCa?: string): Promise<string> => {
      const agent = new Agent({ connect: targetConnector({ policy, ...(extraCa ? { extraCa } : {}) }) });
      try {
        const res = await request(`https://${host}:${r.port}/webhook`, {
          method: 'POST',
          body: '{}',
          dispatcher: agent,
        });
        return `${res.statusCode} ${await res.body.text()}`;
      } catch (error) {
        return `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`;
      } finally {
        await agent.close();
      }
    };
    expect(await post('receiver.test')).toMatch(/SELF_SIGNED|self[- ]signed/i);
    expect(await post('receiver.test', trusted.cert)).toBe('200 ok');
    expect(await post('untrusted.test', trusted.cert)).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID|does not match|altnames/i);
    expect(r.requests).toHaveLength(1);
  });
});
