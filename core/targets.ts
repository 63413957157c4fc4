/**
 * Which URLs a webhook may be sent to. Checked when a URL is saved (scheme, credentials, port,
 * and every address its host name resolves to) and again at every attempt, on the address the
 * connection is actually made to (see activities/connect.ts), so a name that resolves elsewhere
 * later (DNS rebinding) cannot reach a forbidden address.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** The delivery target is not allowed; the delivery fails at once and says why. */
export class TargetRefusedError extends Error {
  override readonly name = 'TargetRefusedError';
}

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to every address it has. Tests inject a stub; never the network. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface TargetPolicy {
  /**
   * Allow http:// targets and every address (tests and local demos): the address rules below are
   * off. @default false
   */
  readonly allowInsecure: boolean;
  /** CIDRs (e.g. `10.20.0.0/16`, `fd12::/64`) opened despite the address rules. @default [] */
  readonly allowedCidrs?: readonly string[];
  /** Ports a target may use; empty means any port. @default [] (any) */
  readonly allowedPorts?: readonly number[];
  /** How host names are resolved. @default the system resolver (`dns.lookup`, every address) */
  readonly resolve?: Resolver;
  /** Longest wait for a host name to resolve when a URL is saved, ms. @default 5000 */
  readonly resolveTimeoutMs?: number;
}

/** Longest accepted target URL, characters. */
export const MAX_URL_LENGTH = 2048;

const PRIVATE = 'a private (RFC 1918) address';
const DOCUMENTATION = 'a documentation address';

/** IPv4 ranges no webhook may reach: IANA's special-purpose registry, less the globally routed ones. */
const IPV4_RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, PRIVATE],
  ['100.64.0.0', 10, 'a carrier-grade NAT (RFC 6598) address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address (where cloud metadata services listen)'],
  ['172.16.0.0', 12, PRIVATE],
  ['192.0.0.0', 24, 'a reserved (IETF protocol assignment) address'],
  ['192.0.2.0', 24, DOCUMENTATION],
  ['192.88.99.0', 24, 'a reserved (6to4 relay anycast) address'],
  ['192.168.0.0', 16, PRIVATE],
  ['198.18.0.0', 15, 'a benchmarking address'],
  ['198.51.100.0', 24, DOCUMENTATION],
  ['203.0.113.0', 24, DOCUMENTATION],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved (or broadcast) address'],
];

/** Special IPv6 ranges checked before the embedded-IPv4 forms (they would look like IPv4-compatible forms). */
const IPV6_EXACT: ReadonlyArray<readonly [string, number, string]> = [
  ['::', 128, 'the unspecified address'],
  ['::1', 128, 'a loopback address'],
];

const IPV6_RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ['100::', 64, 'a discard-only address'],
  ['2001:2::', 48, 'a benchmarking address'],
  ['2001:10::', 28, 'a reserved (ORCHID) address'],
  ['2001:20::', 28, 'a reserved (ORCHIDv2) address'],
  ['2001:db8::', 32, DOCUMENTATION],
  ['3fff::', 20, DOCUMENTATION],
  ['5f00::', 16, 'a reserved (SRv6) address'],
  ['64:ff9b:1::', 48, 'a local-use NAT64 address'],
  ['fc00::', 7, 'a unique local (private) address'],
  ['fe80::', 10, 'a link-local address'],
  ['fec0::', 10, 'a site-local (deprecated) address'],
  ['ff00::', 8, 'a multicast address'],
];

type Labelled = ReadonlyArray<{ readonly list: BlockList; readonly label: string }>;

function labelled(ranges: ReadonlyArray<readonly [string, number, string]>, type: 'ipv4' | 'ipv6'): Labelled {
  return ranges.map(([network, prefix, label]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    return { list, label };
  });
}

const V4 = labelled(IPV4_RANGES, 'ipv4');
const V6_EXACT = labelled(IPV6_EXACT, 'ipv6');
const V6 = labelled(IPV6_RANGES, 'ipv6');
const GLOBAL_UNICAST_V6 = new BlockList();
GLOBAL_UNICAST_V6.addSubnet('2000::', 3, 'ipv6');

/** A parsed CIDR such as `10.0.0.0/8`; a bare address is a /32 (or /128). */
export interface Cidr {
  readonly network: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parses `address[/prefix]`; undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const [network = '', prefixText, ...rest] = text.trim().split('/');
  const family = isIP(network);
  if (rest.length > 0 || (family !== 4 && family !== 6)) return undefined;
  const max = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { network, prefix, family };
}

const allowListCache = new WeakMap<readonly string[], BlockList>();

function allowList(cidrs: readonly string[] | undefined): BlockList | undefined {
  if (!cidrs || cidrs.length === 0) return undefined;
  let list = allowListCache.get(cidrs);
  if (!list) {
    list = new BlockList();
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`'${text}' is not a CIDR`);
      list.addSubnet(cidr.network, cidr.prefix, cidr.family === 4 ? 'ipv4' : 'ipv6');
    }
    allowListCache.set(cidrs, list);
  }
  return list;
}

/** The 16 bytes of a valid IPv6 address (dotted IPv4 tail and `::` included). */
export function ipv6Bytes(ip: string): Uint8Array {
  const halves = ip.split('::');
  const groupsOf = (part: string | undefined): string[] => (part ? part.split(':') : []);
  const expand = (groups: string[]): number[] =>
    groups.flatMap((group) => {
      if (!group.includes('.')) return [parseInt(group, 16)];
      const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
      return [(a << 8) | b, (c << 8) | d];
    });
  const head = expand(groupsOf(halves[0]));
  const tail = expand(groupsOf(halves[1]));
  const words =
    halves.length === 2 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

const dotted = (bytes: Uint8Array, at: number, xor = 0): string =>
  Array.from(bytes.subarray(at, at + 4), (byte) => byte ^ xor).join('.');

const zero = (bytes: Uint8Array, from: number, to: number): boolean =>
  bytes.subarray(from, to).every((byte) => byte === 0);

/** The IPv4 addresses an IPv6 address carries, with the name of the form that carries them. */
export function embeddedIPv4(ip: string): Array<{ readonly address: string; readonly form: string }> {
  const b = ipv6Bytes(ip);
  if (zero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return [{ address: dotted(b, 12), form: 'IPv4-mapped' }];
  if (zero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zero(b, 10, 12))
    return [{ address: dotted(b, 12), form: 'IPv4-translated' }];
  if (zero(b, 0, 12)) return [{ address: dotted(b, 12), form: 'IPv4-compatible' }];
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(b, 4, 12))
    return [{ address: dotted(b, 12), form: 'NAT64' }];
  if (b[0] === 0x20 && b[1] === 0x02) return [{ address: dotted(b, 2), form: '6to4' }];
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) {
    return [
      { address: dotted(b, 4), form: 'Teredo (server)' },
      { address: dotted(b, 12, 0xff), form: 'Teredo (client)' },
    ];
  }
  return [];
}

const labelOf = (ranges: Labelled, ip: string, type: 'ipv4' | 'ipv6'): string | undefined =>
  ranges.find((range) => range.list.check(ip, type))?.label;

/**
 * Why a webhook may not go to this address (e.g. "a loopback address"), or undefined when it may.
 * The allowed CIDRs open chosen ranges; insecure mode opens every address.
 */
export function addressRefusal(ip: string, policy: TargetPolicy): string | undefined {
  if (policy.allowInsecure) return undefined;
  const family = isIP(ip);
  if (family === 0) return 'not an IP address';
  const allowed = allowList(policy.allowedCidrs);
  if (family === 4) {
    if (allowed?.check(ip, 'ipv4')) return undefined;
    return labelOf(V4, ip, 'ipv4');
  }
  // A zone index (`fe80::1%eth0`) only ever scopes an address to a local link.
  if (ip.includes('%')) return 'an address with a zone index (scoped to a local link)';
  if (allowed?.check(ip, 'ipv6')) return undefined;
  const exact = labelOf(V6_EXACT, ip, 'ipv6');
  if (exact) return exact;
  for (const embedded of embeddedIPv4(ip)) {
    const refusal = addressRefusal(embedded.address, policy);
    if (refusal)
      return `${refusal} (${embedded.address}) inside ${embedded.form.startsWith('IPv4') ? 'an' : 'a'} ${embedded.form} IPv6 address`;
  }
  const special = labelOf(V6, ip, 'ipv6');
  if (special) return special;
  if (embeddedIPv4(ip).length > 0) return undefined;
  return GLOBAL_UNICAST_V6.check(ip, 'ipv6') ? undefined : 'not a global unicast IPv6 address';
}

const HINT = 'such targets are refused (WEBHOOKS_ALLOWED_TARGET_CIDRS can open a range)';

/** `[::1]` → `::1`; other host names unchanged. */
export const bareHost = (hostname: string): string =>
  hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;

/** Throws TargetRefusedError when `host` resolved to `address` that the policy forbids. */
export function assertAddressAllowed(address: string, policy: TargetPolicy, host?: string): void {
  const refusal = addressRefusal(address, policy);
  if (refusal === undefined) return;
  const subject = host === undefined || host === address ? address : `${host} resolves to ${address}, which`;
  throw new TargetRefusedError(`${subject} is ${refusal}; ${HINT}`);
}

/**
 * Throws TargetRefusedError when the URL itself is not allowed: scheme, credentials, fragment,
 * length, port, or a literal address the policy forbids. Needs no DNS.
 */
export function assertUrlAllowed(raw: string, policy: TargetPolicy): URL {
  if (raw.length > MAX_URL_LENGTH) throw new TargetRefusedError(`must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefusedError('is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && !(policy.allowInsecure && url.protocol === 'http:')) {
    throw new TargetRefusedError(
      policy.allowInsecure
        ? 'must use http:// or https://'
        : 'must use https:// (set WEBHOOKS_ALLOW_INSECURE_TARGETS=true to allow http://)',
    );
  }
  if (url.username || url.password) throw new TargetRefusedError('must not contain credentials');
  if (url.hash) throw new TargetRefusedError('must not contain a fragment');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  if (policy.allowedPorts && policy.allowedPorts.length > 0 && !policy.allowedPorts.includes(port)) {
    throw new TargetRefusedError(
      `port ${port} is not allowed (WEBHOOKS_ALLOWED_TARGET_PORTS: ${policy.allowedPorts.join(', ')})`,
    );
  }
  const host = bareHost(url.hostname);
  if (isIP(host)) assertAddressAllowed(host, policy);
  return url;
}

/** Every address of a host name, from the system resolver (hosts file and DNS), unsorted. */
export const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map(({ address, family }) => ({
    address,
    family: family === 6 ? 6 : 4,
  }));

/** Resolves `hostname` with the policy's resolver, refusing the target when it cannot. */
export async function resolveHost(hostname: string, policy: TargetPolicy): Promise<readonly ResolvedAddress[]> {
  const resolve = policy.resolve ?? systemResolver;
  const timeoutMs = policy.resolveTimeoutMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new TargetRefusedError(`host ${hostname} did not resolve within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const addresses = await Promise.race([resolve(hostname), timeout]);
    if (addresses.length === 0) throw new TargetRefusedError(`host ${hostname} has no address`);
    return addresses;
  } catch (error) {
    if (error instanceof TargetRefusedError) throw error;
    const code = (error as { code?: unknown }).code;
    throw new TargetRefusedError(
      `host ${hostname} could not be resolved${typeof code === 'string' ? ` (${code})` : ''}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The check made when a URL is saved: the URL rules, then every address its host name resolves
 * to (one forbidden address is enough to refuse it). Insecure mode skips the resolution.
 */
export async function assertTargetAllowed(raw: string, policy: TargetPolicy): Promise<URL> {
  const url = assertUrlAllowed(raw, policy);
  const host = bareHost(url.hostname);
  if (policy.allowInsecure || isIP(host)) return url;
  for (const { address } of await resolveHost(host, policy)) assertAddressAllowed(address, policy, host);
  return url;
}
