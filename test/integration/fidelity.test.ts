/**
 * Payload fidelity and idempotent answers (issue 13), end to end: a corpus of awkward payloads is
 * published as raw text, and each must reach a receiver on loopback byte for byte inside the
 * envelope, signed over those bytes, and come back from GET /v1/events/:id as sent. A repeated or
 * concurrent ingest answers exactly what the first one did, callbackSecret included.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { startHarness, type Harness } from '../helpers/harness';
import { always, TestReceiver, type ReceivedRequest } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;
let secret: string;
const TYPE = 'fidelity.checked';

/** `data` as raw JSON text: what JSON.parse + JSON.stringify would alter, reorder or drop. */
const NASTY_PAYLOADS: readonly string[] = [
  // Keys JavaScript treats specially, at every depth.
  '{"__proto__": {"x": 1}, "a": 1, "nested": {"__proto__": [1]}}',
  '{"constructor": {"prototype": {"polluted": true}}, "list": [{"__proto__": null}]}',
  '{"toString": 1, "hasOwnProperty": null, "valueOf": "x", "__defineGetter__": []}',
  // Numbers as written.
  '12345678901234567890',
  '{"big": 12345678901234567890, "neg": -12345678901234567890}',
  '[9007199254740993, -9007199254740993, 18446744073709551616]',
  '-0',
  '[-0, -0.0, 0.0, -0e0, 0e-5]',
  '[1.0, 1.50, 1E+2, 1e2, 1E-2, 0.1e-1, 100e-2]',
  '[1e400, -1e400, 1e-400, 5e-324, 1.7976931348623157e309]',
  '123456789012345678901234567890.123456789012345678901234567890',
  '{"price": 0.30000000000000004, "exact": 0.3}',
  // Key order JavaScript would change (integer-like keys first), and whitespace.
  '{"b": 1, "a": 2, "10": 3, "2": 4, "-1": 5, "01": 6}',
  '{\n\t"spaced" : [ 1 ,\n 2 ] ,\r\n  "tab":\t"x"\n}',
  '  {"leading and trailing whitespace inside data": true}  ',
  // Strings: escapes kept as written, Unicode as sent.
  '"caf\\u00e9 café \\ud83d\\ude00 😀 日本語 \\u65e5"',
  '{"ключ": "значение", "🔑": "🔒", "\\u00e9": "é"}',
  '"a\\/b \\" \\\\ \\b\\f\\n\\r\\t \\u0001\\u001f\\u007f"',
  '"\u2028\u2029 line and paragraph separators, raw"',
  '"<script>alert(1)</script> &amp; \'quotes\'"',
  '{"": "", " ": " ", "\\u0009": "escaped tab key"}',
  '"\u00ad\u200b\ufeff invisible characters, and a BOM inside"',
  // Every JSON type at the top level.
  'null',
  'true',
  'false',
  '""',
  '[]',
  '{}',
  '[[], {}, [[]], [{}], {"a": []}]',
  // Depth and size.
  `${'['.repeat(60)}"deep"${']'.repeat(60)}`,
  `{"long": "${'€🙂x'.repeat(20_000)}"}`,
  `[${Array.from({ length: 2_000 }, (_, i) => `${i}.${'0'.repeat(i % 7)}5`).join(',')}]`,
  // Everything at once.
  '{"__proto__": {"n": 12345678901234567890}, "z": -0, "a": ["\\u00e9", "é"], "constructor": {"__proto__": {}}}',
];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 2_000 });
  receiver = await TestReceiver.start(always(200));
  expect((await h.call('POST', '/v1/event-types', { id: TYPE })).status).toBe(201);
  const subscription = await h.call('POST', '/v1/subscriptions', { url: receiver.url, eventTypes: [TYPE] });
  expect(subscription.status).toBe(201);
  secret = subscription.body.secret;
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
});

/** Posts a raw JSON body text. */
async function postRaw(body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(`${h.api.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

describe('payload fidelity', () => {
  test(`a corpus of ${NASTY_PAYLOADS.length} payloads reaches the receiver byte for byte, signed, and reads back as sent`, async () => {
    const published: Array<{ id: string; data: string; createdAt: string }> = [];
    for (const [index, data] of NASTY_PAYLOADS.entries()) {
      const id = `fidelity-${index}-${Date.now()}`;
      const answer = await postRaw(`{"id":"${id}","type":"${TYPE}","data":${data}}`);
      expect({ index, status: answer.status }).toEqual({ index, status: 202 });
      // The value's text runs from its first character to its last: whitespace around it is the envelope's.
      published.push({
        id,
        data: data.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, ''),
        createdAt: JSON.parse(answer.text).createdAt,
      });
    }
    const requests = await receiver.waitForRequests(NASTY_PAYLOADS.length, 60_000);
    const byId = new Map(requests.map((request) => [request.headers['webhook-id'] as string, request]));
    const verifier = new Webhook(secret);
    for (const [index, event] of published.entries()) {
      const request = byId.get(event.id);
      expect({ index, delivered: request !== undefined }).toEqual({ index, delivered: true });
      const expected = `{"id":"${event.id}","type":"${TYPE}","timestamp":"${event.createdAt}","accountId":null,"data":${event.data}}`;
      expect({ index, body: request?.body }).toEqual({ index, body: expected });
      expect(Buffer.byteLength(request?.body ?? '')).toBe(Buffer.byteLength(expected));
      expect(() => verifier.verify(request?.body ?? '', request?.headers as Record<string, string>)).not.toThrow();

      // The API shows the payload with the same fidelity: the raw text inside the answer.
      const got = await fetch(`${h.api.url}/v1/events/${event.id}`, {
        headers: { authorization: `Bearer ${h.apiKey}` },
      });
      expect(got.status).toBe(200);
      const text = await got.text();
      expect({ index, contains: text.includes(`"data":${event.data},`) }).toEqual({ index, contains: true });
      expect(JSON.parse(text)).toMatchObject({ id: event.id, type: TYPE, accountId: null });
    }
  }, 120_000);

  test('__proto__ and constructor keys at any depth survive a JSON.parse by the receiver', async () => {
    const id = `proto-${Date.now()}`;
    const data = '{"__proto__":{"x":1},"a":1,"nested":{"__proto__":[1]}}';
    expect((await postRaw(`{"id":"${id}","type":"${TYPE}","data":${data}}`)).status).toBe(202);
    const request = await waitFor(
      () => receiver.requests.find((candidate) => candidate.headers['webhook-id'] === id),
      'the delivery',
    );
    const received = JSON.parse(request?.body ?? '{}').data;
    expect(Object.keys(received)).toEqual(['__proto__', 'a', 'nested']);
    expect(Object.getOwnPropertyDescriptor(received, '__proto__')?.value).toEqual({ x: 1 });
    expect(Object.keys(received.nested)).toEqual(['__proto__']);
  });
});

test.each([
  ['at the top', '{"a":1,"a":2}', 'data'],
  ['spelled differently', '{"x":{" ":1,"\\u0020":2}}', 'data.x'],
  ['in the envelope', '{"a":1}, "type": "x"', 'body'],
])('a key repeated in one object (%s) is ambiguous: 422 naming the object', async (_where, data, path) => {
  const answer = await postRaw(`{"type":"${TYPE}","data":${data}}`);
  expect(answer.status).toBe(422);
  expect(JSON.parse(answer.text).error).toMatchObject({ code: 'validation_failed', details: [{ path }] });
});

describe('the idempotency fingerprint', () => {
  test('the same event with keys reordered, other whitespace or other escapes is the same event', async () => {
    const id = `same-${Date.now()}`;
    const first = await postRaw(`{"id":"${id}","type":"${TYPE}","data":{"a":1,"b":[12345678901234567890,"é"]}}`);
    expect(first.status).toBe(202);
    for (const variant of [
      `{"data":{"b":[12345678901234567890,"\\u00e9"],"a":1},"type":"${TYPE}","id":"${id}"}`,
      `{ "id" : "${id}", "type" : "${TYPE}", "data" : { "b" : [ 1234567890123456789e1 , "é" ] , "a" : 1.0 } }`,
    ]) {
      const again = await postRaw(variant);
      expect(again).toEqual(first);
    }
    // What was stored and is delivered is the first text.
    const got = await fetch(`${h.api.url}/v1/events/${id}`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    expect(await got.text()).toContain('"data":{"a":1,"b":[12345678901234567890,"é"]}');
  });

  test.each([
    ['a big integer off by one', '12345678901234567890', '12345678901234567891'],
    ['-0 against 0', '-0', '0'],
    ['a __proto__ key more', '{"a":1}', '{"a":1,"__proto__":{}}'],
    ['a number beyond a double', '1e400', '1e401'],
  ])('%s is a different event: 409', async (_what, data, other) => {
    const id = `differs-${Math.random().toString(36).slice(2)}`;
    expect((await postRaw(`{"id":"${id}","type":"${TYPE}","data":${data}}`)).status).toBe(202);
    const conflict = await postRaw(`{"id":"${id}","type":"${TYPE}","data":${other}}`);
    expect(conflict.status).toBe(409);
    expect(JSON.parse(conflict.text).error).toMatchObject({ code: 'conflict', details: [{ path: 'id' }] });
  });
});

describe('idempotent means identical', () => {
  test('a repeated ingest answers exactly the first answer, callbackSecret included', async () => {
    const body = `{"id":"again-${Date.now()}","type":"${TYPE}","data":{"n":1},"callbackUrl":"${receiver.url}"}`;
    const first = await postRaw(body);
    expect(first.status).toBe(202);
    expect(JSON.parse(first.text)).toMatchObject({
      deliveryCount: 2,
      callbackSecret: expect.stringMatching(/^whsec_/),
    });
    for (let i = 0; i < 3; i += 1) expect(await postRaw(body)).toEqual(first);
  });

  test('20 concurrent identical posts all get the same answer, callbackSecret included; one event is stored', async () => {
    const id = `concurrent-${Date.now()}`;
    const body = `{"id":"${id}","type":"${TYPE}","data":{"n":12345678901234567890},"callbackUrl":"${receiver.url}"}`;
    const answers = await Promise.all(Array.from({ length: 20 }, () => postRaw(body)));
    const first = answers[0];
    expect(first?.status).toBe(202);
    const parsed = JSON.parse(first?.text ?? '{}');
    expect(parsed).toMatchObject({ id, deliveryCount: 2, callbackSecret: expect.stringMatching(/^whsec_/) });
    for (const answer of answers) expect(answer).toEqual(first);
    const rows = await h.store.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM deliveries WHERE event_id = $1',
      [id],
    );
    expect(rows[0]?.n).toBe(2);
    // The callback delivery is signed with the secret every answer carried.
    const verifier = new Webhook(parsed.callbackSecret);
    const verifies = (request: ReceivedRequest): boolean => {
      try {
        verifier.verify(request.body, request.headers as Record<string, string>);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(
      () => receiver.requests.find((request) => request.headers['webhook-id'] === id && verifies(request)),
      'the callback delivery, signed with the callbackSecret',
    );
  });
});
