/**
 * The key ring the tests (and the benchmark) seal stored secrets with. One fixed ring, so a
 * service in the test's process and the worker processes it spawns on the same store open each
 * other's secrets. Derived rather than written out: it seals test data only.
 */
import { createHash } from 'node:crypto';
import { KeyRing } from '../../src/store/secret-box';

/** WEBHOOKS_ENCRYPTION_KEYS for the service processes the tests start. */
export const TEST_ENCRYPTION_KEYS = `test1:${createHash('sha256').update('webhook-delivery test key ring').digest('base64')}`;

/** TEST_ENCRYPTION_KEYS, parsed. */
export function testKeyRing(): KeyRing {
  return KeyRing.parse(TEST_ENCRYPTION_KEYS);
}
