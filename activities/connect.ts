/**
 * How the worker opens connections to receivers: every address is checked against the target
 * policy at the moment of connecting, so what was checked is what is reached. Host names are
 * resolved by our own lookup (which refuses a name if any of its addresses is forbidden), literal
 * addresses are checked before connecting, and the socket's peer address is checked once more
 * after connecting, before a byte of the request is sent.
 */
import type { LookupAddress, LookupOneOptions, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { buildConnector } from 'undici';
import { assertAddressAllowed, bareHost, resolveHost, TargetRefusedError, type TargetPolicy } from '../core/targets';

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `net.connect`/`tls.connect` that resolves with the policy's resolver and refuses
 * the host (with a TargetRefusedError) when any of its addresses is forbidden.
 */
export function guardedLookup(policy: TargetPolicy) {
  return (hostname: string, options: LookupOptions | LookupOneOptions | number, callback: LookupCallback): void => {
    const opts = typeof options === 'number' ? { family: options } : options;
    resolveHost(hostname, policy).then(
      (resolved) => {
        try {
          for (const { address } of resolved) assertAddressAllowed(address, policy, hostname);
        } catch (error) {
          callback(error as NodeJS.ErrnoException, '');
          return;
        }
        const family =
          opts.family === 4 || opts.family === 'IPv4' ? 4 : opts.family === 6 || opts.family === 'IPv6' ? 6 : 0;
        const usable = resolved.filter((entry) => family === 0 || entry.family === family);
        if (usable.length === 0) {
          callback(Object.assign(new Error(`host ${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '');
          return;
        }
        if ((opts as LookupOptions).all)
          callback(
            null,
            usable.map(({ address, family: f }) => ({ address, family: f })),
          );
        else callback(null, (usable[0] as LookupAddress).address, (usable[0] as LookupAddress).family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, ''),
    );
  };
}

export interface TargetConnectOptions {
  /** The policy every connection is checked against. */
  readonly policy: TargetPolicy;
  /**
   * Extra CA certificates (PEM) to trust besides the usual roots, e.g. a test's own CA.
   * Operators use NODE_EXTRA_CA_CERTS instead. @default none
   */
  readonly extraCa?: string | readonly string[];
  /** Connect timeout, ms. @default 10000 */
  readonly timeoutMs?: number;
}

/** An undici `connect` function that enforces the target policy on every new connection. */
export function targetConnector(options: TargetConnectOptions): buildConnector.connector {
  const { policy } = options;
  const extra =
    options.extraCa === undefined ? [] : typeof options.extraCa === 'string' ? [options.extraCa] : [...options.extraCa];
  const connect = buildConnector({
    ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
    ...(extra.length > 0 ? { ca: [...rootCertificates, ...extra] } : {}),
    ...(policy.allowInsecure ? {} : { lookup: guardedLookup(policy) }),
  } as buildConnector.BuildOptions);
  if (policy.allowInsecure) return connect;
  return (opts, callback) => {
    const host = bareHost(opts.hostname);
    try {
      if (isIP(host)) assertAddressAllowed(host, policy);
    } catch (error) {
      callback(error as Error, null);
      return;
    }
    connect(opts, (error, socket) => {
      if (error || !socket) {
        callback(error ?? new Error('no socket'), null);
        return;
      }
      const peer = socket.remoteAddress;
      try {
        if (peer === undefined) throw new TargetRefusedError(`the connection to ${host} has no peer address`);
        assertAddressAllowed(peer, policy, isIP(host) ? undefined : host);
      } catch (refusal) {
        socket.destroy();
        callback(refusal as Error, null);
        return;
      }
      callback(null, socket);
    });
  };
}
