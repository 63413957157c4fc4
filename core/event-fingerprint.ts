import { createHash } from 'node:crypto';

/**
 * The idempotency fingerprint of an event: a hash of its meaning, given `data` as canonical JSON
 * text. Keys in any order, whitespace and string escapes do not change it; any other difference
 * (a number's value, -0 against 0, a key more or less) does. Events fingerprinted before the raw
 * text was kept hashed the same text (safe-stable-stringify's) whenever their numbers fit a
 * double, so their retries still match.
 */
export function eventFingerprint(
  event: { type: string; accountId: string | null; callbackUrl: string | null },
  data: string,
): string {
  const text = `{"accountId":${JSON.stringify(event.accountId)},"callbackUrl":${JSON.stringify(event.callbackUrl)},"data":${data},"type":${JSON.stringify(event.type)}}`;
  return createHash('sha256').update(text).digest('hex');
}
