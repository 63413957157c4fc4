import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { newId } from '../../core/ids';
import type { ApiKeyStore } from '../store/api-keys';
import { ForbiddenError, UnauthorizedError } from '../errors';

/**
 * Who is calling. Admin keys may do everything; an account key sees and manages only the
 * subscriptions, events and deliveries of its account.
 */
export type Principal = { readonly kind: 'admin' } | { readonly kind: 'account'; readonly accountId: string };

const ADMIN: Principal = Object.freeze({ kind: 'admin' });

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Compares against every key, in constant time per key, so timing reveals neither key nor position. */
function matchesAny(candidate: Buffer, keyDigests: readonly Buffer[]): boolean {
  let found = false;
  for (const key of keyDigests) found = timingSafeEqual(candidate, key) || found;
  return found;
}

/** `Bearer <key>`; the scheme is case-insensitive (RFC 9110, 11.1), one or more spaces before the key. */
const BEARER = /^Bearer +([\x21-\x7e]{1,512})$/i;

/**
 * Managed keys read `whk_<26 id characters>_<43 base64url characters>`: the id part finds the
 * row (ids are not secret), the whole key is compared with the stored hash in constant time.
 */
const MANAGED_KEY = /^whk_([0-9a-z]{26})_([A-Za-z0-9_-]{43})$/;

/** A new managed key: its id, the key (shown once) and the hash that is stored. */
export function generateApiKey(): { id: string; key: string; keyHash: string } {
  const id = newId('key');
  const key = `whk_${id.slice('key_'.length)}_${randomBytes(32).toString('base64url')}`;
  return { id, key, keyHash: digest(key).toString('hex') };
}

/** `admin` → admin; `account:<id>` → that account; anything else → undefined. */
export function principalFromScope(scope: string): Principal | undefined {
  if (scope === 'admin') return ADMIN;
  const match = /^account:([A-Za-z0-9._-]{1,128})$/.exec(scope);
  return match ? { kind: 'account', accountId: match[1] as string } : undefined;
}

/** The digest compared when no managed key matches the id, so both paths do the same work. */
const DUMMY_HASH = digest('no such key');

async function managedPrincipal(
  candidate: string,
  candidateDigest: Buffer,
  store: ApiKeyStore,
): Promise<Principal | undefined> {
  const match = MANAGED_KEY.exec(candidate);
  if (!match) return undefined;
  const found = await store.findActive(`key_${match[1] as string}`);
  const stored = found ? Buffer.from(found.keyHash, 'hex') : DUMMY_HASH;
  const equal = stored.length === candidateDigest.length && timingSafeEqual(candidateDigest, stored);
  return found && equal ? principalFromScope(found.key.scope) : undefined;
}

/**
 * Requires `Authorization: Bearer <key>`: one of the configured admin keys, or a managed key that
 * is not revoked (looked up at every request, so a revocation takes effect at once).
 */
export function requireApiKey(keys: readonly string[], managed?: ApiKeyStore): RequestHandler {
  const keyDigests = keys.map(digest);
  return async (req, _res, next) => {
    const match = BEARER.exec(req.headers.authorization ?? '');
    const candidate = match?.[1];
    if (candidate === undefined) {
      next(new UnauthorizedError('missing or invalid API key; send Authorization: Bearer <key>'));
      return;
    }
    const candidateDigest = digest(candidate);
    let principal: Principal | undefined = matchesAny(candidateDigest, keyDigests) ? ADMIN : undefined;
    if (!principal && managed) {
      try {
        principal = await managedPrincipal(candidate, candidateDigest, managed);
      } catch (error) {
        next(error);
        return;
      }
    }
    if (!principal) {
      next(new UnauthorizedError('missing or invalid API key; send Authorization: Bearer <key>'));
      return;
    }
    (req as Request & { principal?: Principal }).principal = principal;
    next();
  };
}

/** The caller of a request that passed requireApiKey. */
export function principalOf(req: Request): Principal {
  const principal = (req as Request & { principal?: Principal }).principal;
  if (!principal) throw new UnauthorizedError('missing or invalid API key; send Authorization: Bearer <key>');
  return principal;
}

/** Throws ForbiddenError unless the caller holds an admin key. */
export function requireAdmin(req: Request): void {
  if (principalOf(req).kind !== 'admin')
    throw new ForbiddenError('this API key is scoped to an account; an admin key is needed');
}

/** The account an account key acts for (what it may see: src/store/visibility.ts); undefined for an admin key. */
export function accountOf(principal: Principal): string | undefined {
  return principal.kind === 'account' ? principal.accountId : undefined;
}
