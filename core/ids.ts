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

/** 80 bits as 16 Crockford base-32 characters. */
function encode80(value: bigint): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < 16; i += 1) {
    out = CROCKFORD[Number(rest % 32n)] + out;
    rest /= 32n;
  }
  return out;
}

/** The time and random part of the last id made in this process. */
let last = { ms: -1, random: 0n };

/**
 * The time and random part of the next id. Within one millisecond (or if the clock steps back)
 * the random part grows by a random step, so ids made here sort in the order they were made and
 * stay unguessable.
 */
function nextIdParts(now: number): { ms: number; random: bigint } {
  const fresh = BigInt(`0x${randomBytes(10).toString('hex')}`);
  // A new millisecond starts below 2^79, leaving room for 2^39 steps of at most 2^40.
  last =
    now > last.ms
      ? { ms: now, random: fresh >> 1n }
      : { ms: last.ms, random: last.random + 1n + (fresh & 0xffffffffffn) };
  return last;
}

/**
 * A new id such as `sub_01jabcdefg…` (`op_…` for a bulk operation): the prefix names the resource, the time part makes ids sort
 * in creation order (cursor pagination relies on it; ids made by one process in the same
 * millisecond sort in order too), the random part makes them unguessable.
 */
export function newId(prefix: 'sub' | 'evt' | 'dlv' | 'key' | 'op'): string {
  const { ms, random } = nextIdParts(Date.now());
  return `${prefix}_${encodeTime(ms)}${encode80(random)}`;
}
