/**
 * Which URLs a webhook may be sent to. Checked when a URL is saved and again at every attempt.
 */

/** The delivery target is not allowed; the delivery fails at once and says why. */
export class TargetRefusedError extends Error {
  override readonly name = 'TargetRefusedError';
}

export interface TargetPolicy {
  /** Allow http:// targets (tests and local demos). @default false */
  readonly allowInsecure: boolean;
}

/** Longest accepted target URL, characters. */
export const MAX_URL_LENGTH = 2048;

/** Throws TargetRefusedError when the URL itself (scheme, credentials, form) is not allowed. */
export function checkTargetUrl(raw: string, policy: TargetPolicy): URL {
  if (raw.length > MAX_URL_LENGTH) throw new TargetRefusedError(`must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefusedError('is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && !(policy.allowInsecure && url.protocol === 'http:')) {
    throw new TargetRefusedError(
      policy.allowInsecure ? 'must use http:// or https://' : 'must use https:// (set WEBHOOKS_ALLOW_INSECURE_TARGETS=true to allow http://)',
    );
  }
  if (url.username || url.password) throw new TargetRefusedError('must not contain credentials');
  if (url.hash) throw new TargetRefusedError('must not contain a fragment');
  return url;
}
