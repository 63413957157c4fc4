/**
 * The target address rules, without the network: literal addresses of every forbidden class,
 * their disguised forms, names resolved by a stub, the allowlist and the port list; and the
 * worker's connector, which applies the same rules on the address it connects to.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { guardedLookup, targetConnector } from '../../activities/connect';
import {
  addressRefusal,
  assertTargetAllowed,
  assertUrlAllowed,
  embeddedIPv4,
  ipv6Bytes,
  parseCidr,
  TargetRefusedError,
  type Resolver,
  type TargetPolicy,
} from '../../core/targets';

const strict: TargetPolicy = { allowInsecure: false };

/** A resolver that answers from a table and fails like the system resolver otherwise. */
function stubResolver(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
  };
  return Object.assign(resolve, { calls });
}

const refusalOf = async (check: () => unknown): Promise<string> => {
  try {
    await check();
  } catch (error) {
    expect(error).toBeInstanceOf(TargetRefusedError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('forbidden IPv4 addresses', () => {
  test.each([
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['10.0.0.1', /private/],
    ['10.255.255.255', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.100.100.200', /carrier-grade NAT/], // Alibaba Cloud metadata
    ['100.127.255.254', /carrier-grade NAT/],
    ['127.0.0.1', /loopback/],
    ['127.1.2.3', /loopback/],
    ['169.254.169.254', /link-local.*metadata/], // AWS, GCP, Azure metadata
    ['169.254.170.2', /link-local/], // ECS task metadata
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.0.0.8', /reserved/],
    ['192.0.2.1', /documentation/],
    ['192.88.99.1', /reserved/],
    ['192.168.1.1', /private/],
    ['198.18.0.1', /benchmarking/],
    ['198.19.255.255', /benchmarking/],
    ['198.51.100.7', /documentation/],
    ['203.0.113.9', /documentation/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['240.0.0.1', /reserved/],
    ['255.255.255.255', /reserved|broadcast/],
  ])('%s is refused', (ip, reason) => {
    expect(addressRefusal(ip, strict)).toMatch(reason);
  });

  test.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.34',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.1',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
  ])('%s is public and allowed', (ip) => {
    expect(addressRefusal(ip, strict)).toBeUndefined();
  });
});

describe('forbidden IPv6 addresses and IPv4 inside IPv6', () => {
  test.each([
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['0:0:0:0:0:0:0:1', /loopback/],
    ['fc00::1', /unique local/],
    ['fd00:ec2::254', /unique local/], // AWS metadata over IPv6
    ['fe80::1', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['fec0::1', /site-local/],
    ['ff02::1', /multicast/],
    ['100::1', /discard/],
    ['2001:db8::1', /documentation/],
    ['3fff::1', /documentation/],
    ['2001:2::1', /benchmarking/],
    ['2001:10::1', /ORCHID/],
    ['64:ff9b:1::a00:1', /local-use NAT64/],
    ['::ffff:127.0.0.1', /loopback address \(127\.0\.0\.1\) inside an IPv4-mapped/],
    ['::ffff:7f00:1', /loopback address \(127\.0\.0\.1\) inside an IPv4-mapped/],
    ['::ffff:169.254.169.254', /link-local.*inside an IPv4-mapped/],
    ['::ffff:10.0.0.1', /private.*IPv4-mapped/],
    ['::ffff:0:10.0.0.1', /private.*IPv4-translated/],
    ['::127.0.0.1', /loopback.*IPv4-compatible/],
    ['64:ff9b::127.0.0.1', /loopback.*NAT64/],
    ['64:ff9b::a9fe:a9fe', /link-local.*NAT64/],
    ['2002:7f00:1::1', /loopback.*6to4/],
    ['2002:c0a8:101::1', /private.*6to4/],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', /loopback address \(127\.0\.0\.1\) inside a Teredo \(client\)/],
    ['2001:0:a00:1::1', /private.*Teredo \(server\)/],
    ['4000::1', /not a global unicast/],
    ['fe80::1%eth0', /zone index/],
    ['2606:4700::1%eth0', /zone index/],
    ['::ffff:127.0.0.1%1', /zone index/],
    ['1::1', /not a global unicast/],
  ])('%s is refused', (ip, reason) => {
    expect(addressRefusal(ip, strict)).toMatch(reason);
  });

  test.each([
    '2606:4700:4700::1111',
    '2a00:1450:4001:82b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
  ])('%s is public and allowed', (ip) => {
    expect(addressRefusal(ip, strict)).toBeUndefined();
  });

  test('ipv6Bytes expands :: and a dotted tail', () => {
    expect(Array.from(ipv6Bytes('::ffff:1.2.3.4'))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    expect(Array.from(ipv6Bytes('2001:db8::1'))).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(Array.from(ipv6Bytes('1:2:3:4:5:6:7:8')).filter((_, i) => i % 2 === 1)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(embeddedIPv4('2606:4700::1')).toEqual([]);
  });
});

describe('URLs with literal addresses', () => {
  test.each([
    ['https://127.0.0.1/hook', /loopback/],
    ['https://2130706433/hook', /loopback/], // decimal form of 127.0.0.1
    ['https://0x7f.0.0.1/hook', /loopback/], // hex form
    ['https://0177.0.0.1/hook', /loopback/], // octal form
    ['https://127.1/hook', /loopback/], // short form
    ['https://0/hook', /unspecified/],
    ['https://169.254.169.254/latest/meta-data/', /link-local/],
    ['https://[::1]/hook', /loopback/],
    ['https://[::ffff:127.0.0.1]/hook', /loopback.*IPv4-mapped/],
    ['https://[::ffff:a9fe:a9fe]/hook', /link-local.*IPv4-mapped/],
    ['https://[64:ff9b::7f00:1]/hook', /loopback.*NAT64/],
    ['https://[fd00::1]:8443/hook', /unique local/],
    ['https://[fe80::1]/hook', /link-local/],
    ['https://10.0.0.1:8080/hook', /private/],
    ['https://%31%32%37.0.0.1/hook', /loopback/], // percent-encoded host
  ])('%s is refused', async (url, reason) => {
    expect(await refusalOf(() => assertUrlAllowed(url, strict))).toMatch(reason);
    expect(await refusalOf(() => assertTargetAllowed(url, strict))).toMatch(reason);
  });

  test('http:// is refused with the guard on, and credentials always', async () => {
    expect(await refusalOf(() => assertUrlAllowed('http://hooks.example.com/', strict))).toMatch(/must use https:\/\//);
    expect(await refusalOf(() => assertUrlAllowed('https://user:pass@hooks.example.com/', strict))).toBe(
      'must not contain credentials',
    );
    expect(
      await refusalOf(() => assertUrlAllowed('https://user:pass@hooks.example.com/', { allowInsecure: true })),
    ).toBe('must not contain credentials');
  });

  test('insecure mode (tests, local demos) allows http:// and loopback', async () => {
    expect(assertUrlAllowed('http://127.0.0.1:4000/hook', { allowInsecure: true }).port).toBe('4000');
    await expect(
      assertTargetAllowed('http://localhost:4000/hook', { allowInsecure: true, resolve: stubResolver({}) }),
    ).resolves.toBeInstanceOf(URL);
  });
});

describe('host names, resolved by a stub', () => {
  const resolve = stubResolver({
    'hooks.example.com': ['93.184.215.34', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    'localhost.attacker.test': ['127.0.0.1'],
    'metadata.attacker.test': ['169.254.169.254'],
    'mixed.attacker.test': ['93.184.215.34', '10.0.0.5'],
    'v6.attacker.test': ['::1'],
    'mapped.attacker.test': ['::ffff:127.0.0.1'],
    'empty.attacker.test': [],
    'internal.corp.test': ['10.20.1.7'],
  });
  const policy: TargetPolicy = { allowInsecure: false, resolve };

  test('a name with public addresses only is accepted', async () => {
    await expect(assertTargetAllowed('https://hooks.example.com/in', policy)).resolves.toBeInstanceOf(URL);
  });

  test.each([
    ['localhost.attacker.test', /localhost\.attacker\.test resolves to 127\.0\.0\.1, which is a loopback address/],
    ['metadata.attacker.test', /resolves to 169\.254\.169\.254, which is a link-local/],
    ['mixed.attacker.test', /resolves to 10\.0\.0\.5, which is a private/],
    ['v6.attacker.test', /resolves to ::1, which is a loopback/],
    ['mapped.attacker.test', /loopback address \(127\.0\.0\.1\) inside an IPv4-mapped/],
    ['empty.attacker.test', /has no address/],
    ['nowhere.attacker.test', /could not be resolved \(ENOTFOUND\)/],
  ])('%s is refused', async (host, reason) => {
    expect(await refusalOf(() => assertTargetAllowed(`https://${host}/hook`, policy))).toMatch(reason);
  });

  test('a resolver that never answers is cut by the resolve timeout', async () => {
    const started = Date.now();
    const hanging: TargetPolicy = {
      allowInsecure: false,
      resolve: () => new Promise(() => undefined),
      resolveTimeoutMs: 200,
    };
    expect(await refusalOf(() => assertTargetAllowed('https://slow.attacker.test/', hanging))).toMatch(
      /did not resolve within 200 ms/,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('WEBHOOKS_ALLOWED_TARGET_CIDRS opens chosen ranges, and only those', async () => {
    const opened: TargetPolicy = { allowInsecure: false, resolve, allowedCidrs: ['10.20.0.0/16', 'fd12::/16'] };
    await expect(assertTargetAllowed('https://internal.corp.test/hook', opened)).resolves.toBeInstanceOf(URL);
    expect(addressRefusal('fd12::1', opened)).toBeUndefined();
    expect(addressRefusal('::ffff:10.20.3.4', opened)).toBeUndefined();
    expect(addressRefusal('10.21.0.1', opened)).toMatch(/private/);
    expect(addressRefusal('127.0.0.1', opened)).toMatch(/loopback/);
    expect(await refusalOf(() => assertTargetAllowed('https://mixed.attacker.test/hook', opened))).toMatch(
      /10\.0\.0\.5/,
    );
  });

  test('parseCidr accepts addresses and prefixes, nothing else', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: '10.0.0.0', prefix: 8, family: 4 });
    expect(parseCidr('fd00::/8')).toEqual({ network: 'fd00::', prefix: 8, family: 6 });
    expect(parseCidr('192.168.1.10')).toEqual({ network: '192.168.1.10', prefix: 32, family: 4 });
    for (const bad of ['10.0.0.0/33', '::/129', 'example.com/8', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/', ''])
      expect(parseCidr(bad)).toBeUndefined();
  });

  test('WEBHOOKS_ALLOWED_TARGET_PORTS limits ports; the scheme default port counts', async () => {
    const ports: TargetPolicy = { allowInsecure: false, resolve, allowedPorts: [443, 8443] };
    await expect(assertTargetAllowed('https://hooks.example.com/in', ports)).resolves.toBeInstanceOf(URL);
    await expect(assertTargetAllowed('https://hooks.example.com:8443/in', ports)).resolves.toBeInstanceOf(URL);
    expect(await refusalOf(() => assertTargetAllowed('https://hooks.example.com:22/in', ports))).toMatch(
      /port 22 is not allowed/,
    );
    // Without a list, any port is allowed: the address rules are what keep internal services out.
    await expect(assertTargetAllowed('https://hooks.example.com:22/in', policy)).resolves.toBeInstanceOf(URL);
  });
});

describe("the worker's connector checks the address it connects to", () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer((_req, res) => res.end('reached'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function post(url: string, policy: TargetPolicy): Promise<string> {
    const agent = new Agent({ connect: targetConnector({ policy }) });
    try {
      const res = await request(url, {
        method: 'POST',
        body: '{}',
        dispatcher: agent,
        headersTimeout: 2_000,
        bodyTimeout: 2_000,
      });
      return `${res.statusCode} ${await res.body.text()}`;
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    } finally {
      await agent.close();
    }
  }

  test('a name that now resolves to loopback is refused before connecting (DNS rebinding)', async () => {
    const resolve = stubResolver({ 'rebind.attacker.test': ['127.0.0.1'] });
    expect(await post(`http://rebind.attacker.test:${port}/`, { allowInsecure: false, resolve })).toMatch(
      /^TargetRefusedError: rebind\.attacker\.test resolves to 127\.0\.0\.1, which is a loopback address/,
    );
    expect(resolve.calls).toEqual(['rebind.attacker.test']);
  });

  test('one forbidden address among public ones is enough to refuse', async () => {
    const resolve = stubResolver({ 'mixed.attacker.test': ['93.184.215.34', '127.0.0.1'] });
    expect(await post(`http://mixed.attacker.test:${port}/`, { allowInsecure: false, resolve })).toMatch(
      /^TargetRefusedError: .*127\.0\.0\.1/,
    );
  });

  test.each([`http://127.0.0.1:PORT/`, `http://[::ffff:127.0.0.1]:PORT/`, `http://2130706433:PORT/`])(
    'literal %s is refused before connecting',
    async (url) => {
      expect(await post(url.replace('PORT', String(port)), strict)).toMatch(/^TargetRefusedError: .*loopback/);
    },
  );

  test('an allowed CIDR or insecure mode reaches the server', async () => {
    const resolve = stubResolver({ 'internal.corp.test': ['127.0.0.1'] });
    expect(
      await post(`http://internal.corp.test:${port}/`, {
        allowInsecure: false,
        resolve,
        allowedCidrs: ['127.0.0.1/32'],
      }),
    ).toBe('200 reached');
    expect(await post(`http://127.0.0.1:${port}/`, { allowInsecure: true })).toBe('200 reached');
  });

  test('guardedLookup answers in both callback shapes and honours the family', async () => {
    const lookup = guardedLookup({
      allowInsecure: false,
      resolve: stubResolver({ 'dual.example.test': ['93.184.215.34', '2606:4700::1'] }),
    });
    const call = (options: object) =>
      new Promise<unknown[]>((resolve) =>
        lookup('dual.example.test', options as never, (...args: unknown[]) => resolve(args)),
      );
    expect(await call({ all: true })).toEqual([
      null,
      [
        { address: '93.184.215.34', family: 4 },
        { address: '2606:4700::1', family: 6 },
      ],
    ]);
    expect(await call({})).toEqual([null, '93.184.215.34', 4]);
    expect(await call({ family: 6 })).toEqual([null, '2606:4700::1', 6]);
  });
});
