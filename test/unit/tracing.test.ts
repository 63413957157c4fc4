/**
 * src/tracing.ts's OTLP export, to a collector stand-in on loopback: spans are posted to the
 * configured URL with its headers, as OTLP/HTTP JSON or protobuf, with the service's resource.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TracingSettings } from '../../src/config';
import { startTracing } from '../../src/tracing';

interface Posted {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

let collector: Server;
const posted: Posted[] = [];

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      posted.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': String(req.headers['content-type']) }).end();
    });
  }).listen(0, '127.0.0.1');
  await once(collector, 'listening');
});

afterAll(async () => {
  collector.closeAllConnections();
  await new Promise<void>((resolve) => collector.close(() => resolve()));
});

function settings(protocol: TracingSettings['protocol']): TracingSettings {
  return {
    endpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`,
    protocol,
    headers: { 'x-collector-key': 'k1' },
    timeoutMs: 5_000,
    serviceName: 'webhook-delivery-test',
    resourceAttributes: { 'deployment.environment': 'test' },
    sampler: { name: 'parentbased_always_on', ratio: 1 },
  };
}

test.each(['http/json', 'http/protobuf'] as const)('spans go to the collector over OTLP %s', async (protocol) => {
  posted.length = 0;
  const tracing = startTracing(settings(protocol));
  try {
    tracing.tracer.startSpan(`probe ${protocol}`).end();
    await tracing.forceFlush();
  } finally {
    await tracing.shutdown();
  }
  expect(posted).toHaveLength(1);
  const [request] = posted;
  expect(request!.path).toBe('/v1/traces');
  expect(request!.headers['x-collector-key']).toBe('k1');
  expect(request!.headers['content-type']).toBe(
    protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
  );
  // The span's name and the resource's attributes are in the payload, JSON or protobuf strings alike.
  const text = request!.body.toString('latin1');
  for (const expected of [`probe ${protocol}`, 'webhook-delivery-test', 'deployment.environment']) {
    expect(text).toContain(expected);
  }
});

test('the sampler the settings name: always_off exports nothing', async () => {
  posted.length = 0;
  const tracing = startTracing({ ...settings('http/json'), sampler: { name: 'always_off', ratio: 1 } });
  try {
    tracing.tracer.startSpan('dropped').end();
    await tracing.forceFlush();
  } finally {
    await tracing.shutdown();
  }
  expect(posted).toEqual([]);
});
