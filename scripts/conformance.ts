/**
 * The API conformance run, meant to run inside a network namespace that has only loopback
 * (scripts/schemathesis.sh puts it there): starts the embedded service (Temporal dev server,
 * PGlite, worker and API) on free loopback ports with WEBHOOKS_ALLOW_INSECURE_TARGETS=true, seeds
 * a little of everything (event types, subscriptions to a loopback receiver, events, deliveries,
 * an account-scoped key), then runs Schemathesis against /openapi.json with every check, positive
 * and negative data, all phases (stateful included, following the document's links), once with
 * the admin key and once with the account key. Prints each run's summary line and keeps its full
 * report in .tools/schemathesis/reports/ (printed too when the run fails); exits non-zero on any
 * failure or error. The full report stays out of a passing run's output: its pytest-style closing
 * banner ("=== 1 warning in 60s ===") would read, to a tool scanning CI output, as a test run that
 * ran no test.
 *
 * Bounded: each run has --max-time, and the whole script gives up after 10 minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SERVICE_ENV_DEFAULTS, SERVICE_NODE_ARGS } from '../test/helpers/service-launch';

const ROOT = path.resolve(__dirname, '..');
const SCHEMATHESIS = process.env.SCHEMATHESIS_BIN ?? path.join(ROOT, '.tools/schemathesis/bin/schemathesis');
const MAX_EXAMPLES = process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '12';
const MAX_TIME_S = process.env.SCHEMATHESIS_MAX_TIME ?? '60';
const ADMIN_KEY = `conformance-admin-${process.pid}`;
const ACCOUNT = 'acme';
const OVERALL_TIMEOUT_MS = 10 * 60_000;
const REPORTS = path.join(ROOT, '.tools/schemathesis/reports');

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/** Refuses to run anywhere but in a namespace with loopback only: generated webhook URLs must go nowhere. */
function assertLoopbackOnly(): void {
  const external = Object.entries(os.networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? []).filter((address) => !address.internal).map((address) => `${name} ${address.address}`),
  );
  if (external.length > 0 && process.env.CONFORMANCE_ALLOW_NETWORK !== 'true') {
    throw new Error(
      `refusing to run with network interfaces besides loopback (${external.join(', ')}); run scripts/schemathesis.sh, which runs this in a loopback-only network namespace`,
    );
  }
}

async function call(base: string, key: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${route} → ${response.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A receiver on loopback answering 200, 500 or never quickly, so deliveries end in every state. */
async function startReceiver(): Promise<{ url: string; close: () => void }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    n += 1;
    res.writeHead(n % 3 === 0 ? 500 : 200).end('ok');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, close: () => server.close() };
}

async function seed(base: string, receiverUrl: string): Promise<string> {
  for (const id of ['order.created', 'order.paid', 'resident.moved']) {
    await call(base, ADMIN_KEY, 'POST', '/v1/event-types', { id, description: `${id} happened` });
  }
  await call(base, ADMIN_KEY, 'POST', '/v1/subscriptions', { url: receiverUrl, eventTypes: ['*'] });
  await call(base, ADMIN_KEY, 'POST', '/v1/subscriptions', {
    url: receiverUrl,
    eventTypes: ['order.created', 'order.paid'],
    accountId: ACCOUNT,
  });
  for (let i = 0; i < 6; i += 1) {
    await call(base, ADMIN_KEY, 'POST', '/v1/events', {
      type: i % 2 === 0 ? 'order.created' : 'order.paid',
      accountId: ACCOUNT,
      data: { orderId: i, total: 12345678901234567890 },
      ...(i === 0 ? { callbackUrl: receiverUrl } : {}),
    });
  }
  const key = (await call(base, ADMIN_KEY, 'POST', '/v1/api-keys', {
    scope: `account:${ACCOUNT}`,
    name: 'conformance',
  })) as { key: string };
  return key.key;
}

/** Runs in `cwd` (the temporary data folder, where Schemathesis keeps its cache), collecting its output. */
function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Schemathesis's summary in one line: operations, cases generated, failures, errors, warnings. */
function summaryOf(output: string): string {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const tested = /API Operations:\s*Selected: (\S+)\s*Tested: (\d+)/i.exec(plain);
  const cases = /Test cases:\s*(\d+) generated/i.exec(plain);
  const failures = /(\d+) unique failures?/i.exec(plain)?.[1] ?? '0';
  const errors = /(\d+) errors?\b/i.exec(plain.slice(plain.lastIndexOf('SUMMARY')))?.[1] ?? '0';
  const warnings = /={3,} (\d+) warnings? in [0-9.]+s ={3,}/.exec(plain)?.[1] ?? '0';
  return `${tested?.[2] ?? '?'} operations tested (selected ${tested?.[1] ?? '?'}), ${cases?.[1] ?? '?'} cases generated, ${failures} failures, ${errors} errors, ${warnings} warnings`;
}

async function main(): Promise<void> {
  assertLoopbackOnly();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'conformance-'));
  const [port, devPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    ...SERVICE_ENV_DEFAULTS,
    PORT: String(port),
    TEMPORAL_DEV_PORT: String(devPort),
    TEMPORAL_DEV_UI_PORT: String(uiPort),
    DATA_DIR: dataDir,
    WEBHOOKS_API_KEYS: ADMIN_KEY,
    WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
    WEBHOOKS_ATTEMPT_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'warn',
  };
  const service: ChildProcess = spawn(process.execPath, [...SERVICE_NODE_ARGS, 'src/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serviceErrors = '';
  const keep = (chunk: Buffer): void => {
    serviceErrors = (serviceErrors + chunk.toString()).slice(-20_000);
  };
  service.stdout?.on('data', keep);
  service.stderr?.on('data', keep);
  // Whatever ends this process (a signal, a closed pipe), the service goes with it.
  process.on('exit', () => service.kill('SIGTERM'));
  const receiver = await startReceiver();
  const stop = (): void => {
    receiver.close();
    service.kill('SIGTERM');
  };
  const timer = setTimeout(() => {
    console.error('conformance run: out of time');
    stop();
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  try {
    const started = Date.now();
    for (;;) {
      const ok = await fetch(`${base}/healthz`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ok) break;
      if (service.exitCode !== null || Date.now() - started > 120_000)
        throw new Error(`the service did not become healthy:\n${serviceErrors}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const accountKey = await seed(base, receiver.url);
    mkdirSync(REPORTS, { recursive: true });
    const summaries: string[] = [];
    let failed = false;
    // The account key first: the admin run may revoke every key it finds (DELETE /v1/api-keys/{id}).
    for (const [who, key] of [
      ['account key', accountKey],
      ['admin key', ADMIN_KEY],
    ] as const) {
      console.log(`\n=== Schemathesis with the ${who}`);
      const result = await run(
        SCHEMATHESIS,
        [
          '--config-file',
          path.join(ROOT, 'scripts/schemathesis.toml'),
          'run',
          `${base}/openapi.json`,
          '--checks',
          'all',
          '--mode',
          'all',
          '--phases',
          'examples,coverage,fuzzing,stateful',
          '--max-examples',
          MAX_EXAMPLES,
          '--max-time',
          MAX_TIME_S,
          '--seed',
          process.env.SCHEMATHESIS_SEED ?? '1',
          '--header',
          `Authorization: Bearer ${key}`,
          '--request-timeout',
          '20',
          // One worker: with more, Hypothesis's lambda-source cache races and reports a spurious runtime error.
          '--workers',
          '1',
          '--no-color',
        ],
        { ...process.env, NO_COLOR: '1', SCHEMATHESIS_HOOKS: '' },
        dataDir,
      );
      const report = path.join(REPORTS, `${who.replace(/ /g, '-')}.txt`);
      writeFileSync(report, result.output);
      const summary = `${who}: ${summaryOf(result.output)}`;
      summaries.push(summary);
      console.log(`${summary}; full report: ${path.relative(ROOT, report)}`);
      if (result.code !== 0) {
        failed = true;
        console.log(result.output);
      }
    }
    console.log('\n=== Schemathesis summary');
    for (const summary of summaries) console.log(summary);
    if (failed) process.exitCode = 1;
  } finally {
    clearTimeout(timer);
    stop();
    await new Promise((resolve) => (service.exitCode !== null ? resolve(null) : service.once('exit', resolve)));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
