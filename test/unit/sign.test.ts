import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { generateSecret, isValidSecret, signatureHeaders } from '../../core/signing';

const body = JSON.stringify({ id: 'evt_1', type: 'order.created', data: { orderId: 42 } });
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe('signatureHeaders', () => {
  test('verifies with the standardwebhooks package', () => {
    const secret = generateSecret();
    const headers = signatureHeaders({ id: 'evt_1', timestamp: nowSeconds(), body, secrets: [secret] });
    expect(headers['webhook-id']).toBe('evt_1');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  test('matches the signature standardwebhooks computes', () => {
    const secret = generateSecret();
    const timestamp = nowSeconds();
    const headers = signatureHeaders({ id: 'msg_1', timestamp, body, secrets: [secret] });
    expect(headers['webhook-signature']).toBe(new Webhook(secret).sign('msg_1', new Date(timestamp * 1000), body));
  });

  test('several secrets give space-separated signatures, each verifying', () => {
    const secrets = [generateSecret(), generateSecret()];
    const headers = signatureHeaders({ id: 'evt_2', timestamp: nowSeconds(), body, secrets });
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    for (const secret of secrets) expect(() => new Webhook(secret).verify(body, headers)).not.toThrow();
  });

  test('a wrong secret, a changed body or a changed id fails verification', () => {
    const secret = generateSecret();
    const headers = signatureHeaders({ id: 'evt_3', timestamp: nowSeconds(), body, secrets: [secret] });
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'evt_4' })).toThrow(
      WebhookVerificationError,
    );
  });

  test('a stale timestamp is refused by receivers', () => {
    const secret = generateSecret();
    const headers = signatureHeaders({ id: 'evt_5', timestamp: nowSeconds() - 3_600, body, secrets: [secret] });
    expect(() => new Webhook(secret).verify(body, headers)).toThrow(WebhookVerificationError);
  });
});

describe('secrets', () => {
  test('generated secrets are whsec_ + base64 of 32 bytes, and differ', () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(isValidSecret(secret)).toBe(true);
    expect(generateSecret()).not.toBe(secret);
  });

  const ofBytes = (n: number): string => `whsec_${Buffer.alloc(n, 7).toString('base64')}`;

  test.each([
    ['24 bytes', ofBytes(24), true],
    ['64 bytes', ofBytes(64), true],
    ['23 bytes', ofBytes(23), false],
    ['65 bytes', ofBytes(65), false],
    ['no prefix', Buffer.alloc(32).toString('base64'), false],
    ['wrong prefix', `wh_${Buffer.alloc(32).toString('base64')}`, false],
    ['not base64', 'whsec_not base64 at all!!!!!!!!!!!!!!!!!!!', false],
    ['empty after the prefix', 'whsec_', false],
    ['base64url characters', `whsec_${Buffer.alloc(32, 0xfb).toString('base64url')}`, false],
  ])('isValidSecret: %s → %s', (_what, secret, valid) => {
    expect(isValidSecret(secret)).toBe(valid);
  });
});
