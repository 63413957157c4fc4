import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Request } from 'express';
import { UnauthorizedError } from './errors';

/** Who is calling. Admin keys may do everything. */
export type Principal = { readonly kind: 'admin' };

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Compares against every key, in constant time per key, so timing reveals neither key nor position. */
function matchesAny(candidate: string, keyDigests: readonly Buffer[]): boolean {
  const candidateDigest = digest(candidate);
  let found = false;
  for (const key of keyDigests) found = timingSafeEqual(candidateDigest, key) || found;
  return found;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

/** Requires `Authorization: Bearer <key>` with one of the configured keys. */
export function requireApiKey(keys: readonly string[]): RequestHandler {
  const keyDigests = keys.map(digest);
  return (req, _res, next) => {
    const match = BEARER.exec(req.headers.authorization ?? '');
    if (!match || !matchesAny(match[1] as string, keyDigests)) {
      next(new UnauthorizedError('missing or invalid API key; send Authorization: Bearer <key>'));
      return;
    }
    (req as Request & { principal?: Principal }).principal = { kind: 'admin' };
    next();
  };
}
