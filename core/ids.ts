import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeTime(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i += 1) {
    out = CROCKFORD[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += CROCKFORD[byte % 32];
  return out;
}

/**
 * A new id such as `sub_01jabcdefg…`: the prefix names the resource, the time part makes ids sort
 * in creation order (cursor pagination relies on it), the random part makes them unguessable.
 */
export function newId(prefix: 'sub' | 'evt' | 'dlv' | 'key'): string {
  return `${prefix}_${encodeTime(Date.now())}${encodeRandom(16)}`;
}

/**
 * The id scheme of delivery workflows: one per (event, subscription), derived from both ids, so
 * starting the same delivery twice is rejected by Temporal instead of delivering twice.
 * Event and subscription ids never contain '/', so the id is unambiguous.
 */
export function deliveryWorkflowId(eventId: string, subscriptionId: string | null): string {
  return `delivery/${eventId}/${subscriptionId ?? 'callback'}`;
}
