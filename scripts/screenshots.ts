/**
 * `npm run docs:screenshots`: takes the Temporal UI screenshots of docs/operations.md.
 *
 * Starts the service as `npm start` does, but in a temporary DATA_DIR and on free loopback ports;
 * starts three receivers on loopback (200, 404, 500); creates event types, subscriptions and events
 * through the API so that Temporal holds delivered, failed, retrying and cancelled deliveries; then
 * has headless Chromium (Debian's `chromium`) photograph the Temporal UI into docs/images/:
 *
 *   failed-delivery.png    a delivery its receiver refused (404): header, input, the failure
 *   delivery-metadata.png  the same delivery's User Metadata tab: summary and details
 *   failed-list.png        the workflow list filtered to `ExecutionStatus = "Failed"`
 *   pending-activity.png   a delivery still retrying: its pending activity, attempt and last failure
 *
 * Everything listens on 127.0.0.1 and every process started here is stopped before the script
 * ends, on failure too. The run is bounded (SCREENSHOTS_TIMEOUT_SECONDS, default 300).
 *
 *   npm run docs:screenshots               # about a minute
 *   npm run docs:screenshots -- --keep     # then keep everything running (up to 30 minutes, or
 *                                          # Ctrl-C) to try docs/operations.md's commands against it
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'undici';
import { SERVICE_ENV_DEFAULTS, SERVICE_NODE_ARGS } from '../test/helpers/service-launch';

const ROOT = path.join(__dirname, '..');
const IMAGES = path.join(ROOT, 'docs', 'images');
const BUNDLED_CLI = path.join(ROOT, '.tools', 'temporal', 'bin', 'temporal');
const API_KEY = 'whk_screenshots_only_on_loopback';
const NAMESPACE = 'default';
/** Larger screenshots fail the run: the docs keep each under this. */
const MAX_PNG_BYTES = 400 * 1024;
const TIMEOUT_MS = Number(process.env.SCREENSHOTS_TIMEOUT_SECONDS ?? 300) * 1000;
const KEEP_MS = 30 * 60_000;
const KEEP = process.argv.includes('--keep');

const log = (message: string): void => void process.stdout.write(`screenshots: ${message}\n`);

class Failure extends Error {
  override readonly name = 'Failure';
}

/** Everything to stop, in reverse order of starting. */
const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];
const overall = AbortSignal.timeout(TIMEOUT_MS);

/** Polls `probe` until it returns a value, at most `timeoutMs` (and never past the overall bound). */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline && !overall.aborted) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      // A Failure says waiting longer is useless (e.g. the process exited).
      if (error instanceof Failure) throw error;
      lastError = error;
    }
    await sleep(250);
  }
  const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Failure(`timed out waiting for ${what}${why}`);
}

/** The executable named `name` on PATH, if any. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function findChromium(): string {
  const found = onPath('chromium') ?? onPath('chromium-browser');
  if (found) return found;
  throw new Failure(
    "Chromium is not on PATH. Install Debian's package and run again:\n\n    apt-get update && apt-get install -y chromium\n",
  );
}

/**
 * Stops a process started detached (its own process group) and everything it started: SIGTERM to
 * the process itself first, so it can stop its children in order, then SIGKILL to its group.
 */
async function stopProcessGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  try {
    // Whatever of its group is left (a child it did not stop, or the process itself).
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is gone already.
  }
  if (!stopped) await Promise.race([exited, sleep(2_000)]);
}

/** `count` distinct ports free on loopback: all held at once, so no two are the same. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createTcpServer());
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

// ---------------------------------------------------------------------------------------------
// The service and the receivers

interface Ports {
  readonly api: number;
  readonly temporal: number;
  readonly ui: number;
}

async function startService(dataDir: string, ports: Ports): Promise<void> {
  const logFile = path.join(dataDir, 'service.log');
  const out = createWriteStream(logFile);
  const env: NodeJS.ProcessEnv = {
    ...SERVICE_ENV_DEFAULTS,
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(ports.api),
    TEMPORAL_DEV_PORT: String(ports.temporal),
    TEMPORAL_DEV_UI_PORT: String(ports.ui),
    TEMPORAL_UI_URL: `http://127.0.0.1:${ports.ui}`,
    WEBHOOKS_API_KEYS: API_KEY,
    WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
    LOG_LEVEL: 'info',
  };
  // Settings of the caller's own service must not leak in: this one is embedded and fresh.
  delete env.TEMPORAL_ADDRESS;
  delete env.DATABASE_URL;
  delete env.TEMPORAL_NAMESPACE;
  delete env.TEMPORAL_TASK_QUEUE;
  if (existsSync(BUNDLED_CLI)) env.TEMPORAL_CLI_PATH = BUNDLED_CLI;
  const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, 'src/main.ts'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit = `exited with ${signal ?? `code ${code}`}`));
  cleanups.push({
    name: 'service',
    run: async () => {
      await stopProcessGroup(child, 30_000);
      out.end();
    },
  });
  log(`starting the service (API :${ports.api}, Temporal :${ports.temporal}, UI :${ports.ui}); log: ${logFile}`);
  const tail = async (): Promise<string> => (await readFile(logFile, 'utf8').catch(() => '')).slice(-3000);
  try {
    await waitFor('the service to answer /healthz', 180_000, async () => {
      if (exit) throw new Failure(`the service ${exit}`);
      const res = await fetch(`http://127.0.0.1:${ports.api}/healthz`);
      return res.status === 200 ? true : undefined;
    });
    await waitFor('the Temporal UI', 30_000, async () =>
      (await fetch(`http://127.0.0.1:${ports.ui}/`)).ok ? true : undefined,
    );
  } catch (error) {
    // The temporary directory goes at the end: keep the log where it can be read.
    const kept = path.join(os.tmpdir(), 'webhooks-screenshots-service.log');
    await copyFile(logFile, kept).catch(() => undefined);
    process.stderr.write(`--- end of the service's log (all of it in ${kept}) ---\n${await tail()}\n`);
    throw error;
  }
}

/** A receiver on loopback answering every POST with `status`; counts what it got. */
async function startReceiver(status: number): Promise<{ url: string; received: () => number }> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      received += 1;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ answer: status }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push({
    name: `receiver ${status}`,
    run: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/webhook`, received: () => received };
}

// ---------------------------------------------------------------------------------------------
// The API

interface Delivery {
  readonly id: string;
  readonly status: 'pending' | 'succeeded' | 'failed' | 'cancelled';
  readonly attemptCount: number;
  readonly workflowId: string;
  readonly subscriptionId: string | null;
}

function apiClient(port: number) {
  return async <T>(method: string, route: string, body?: unknown, expect: number[] = [200, 201, 202]) => {
    const res = await fetch(`http://127.0.0.1:${port}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Failure(`${method} ${route} answered ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  };
}

type Api = ReturnType<typeof apiClient>;

async function deliveriesOf(api: Api, subscriptionId: string): Promise<Delivery[]> {
  return (await api<{ data: Delivery[] }>('GET', `/v1/deliveries?subscriptionId=${subscriptionId}&limit=100`)).data;
}

/** Waits until every delivery of the subscription satisfies `done`. */
async function settled(api: Api, subscriptionId: string, what: string, done: (d: Delivery) => boolean) {
  return waitFor(what, 60_000, async () => {
    const deliveries = await deliveriesOf(api, subscriptionId);
    return deliveries.length > 0 && deliveries.every(done) ? deliveries : undefined;
  });
}

interface Scene {
  /** A delivery its receiver refused with 404: Failed, ReceiverRejected. */
  readonly rejected: Delivery;
  /** A delivery still retrying (500s), with a few attempts made. */
  readonly retrying: Delivery;
  readonly cancelled: Delivery;
  readonly exhausted: Delivery;
  readonly delivered: Delivery;
}

/**
 * Event types, subscriptions and events that leave Temporal with every kind of delivery: delivered
 * (200), failed by the receiver (404) and by exhausted attempts (500 three times), retrying (500,
 * one-second backoff), and cancelled through the API.
 */
async function populate(api: Api): Promise<Scene> {
  const ok = await startReceiver(200);
  const gone = await startReceiver(404);
  const broken = await startReceiver(500);
  log(`receivers: 200 ${ok.url}, 404 ${gone.url}, 500 ${broken.url}`);

  for (const [id, description] of [
    ['order.created', 'An order was placed'],
    ['invoice.paid', 'An invoice was paid'],
    ['customer.updated', 'A customer changed their details'],
  ]) {
    await api('POST', '/v1/event-types', { id, description }, [201, 409]);
  }
  const subscribe = (body: object) => api<{ id: string }>('POST', '/v1/subscriptions', body);
  const shop = await subscribe({ url: ok.url, eventTypes: ['order.created', 'invoice.paid'], accountId: 'acme' });
  const legacy = await subscribe({ url: gone.url, eventTypes: ['order.created'], accountId: 'acme' });
  const flaky = await subscribe({
    url: broken.url,
    eventTypes: ['invoice.paid'],
    accountId: 'globex',
    retryPolicy: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '30s', maxDuration: '1h' },
  });
  const capped = await subscribe({
    url: broken.url,
    eventTypes: ['customer.updated'],
    accountId: 'globex',
    retryPolicy: { initialInterval: '1s', backoffCoefficient: 1, maximumAttempts: 3 },
  });
  const patient = await subscribe({ url: broken.url, eventTypes: ['customer.updated'], accountId: 'initech' });

  // An account's events go to that account's subscriptions (and to vendor-level ones).
  const publish = (type: string, accountId: string, data: object) =>
    api('POST', '/v1/events', { type, accountId, data });
  for (let order = 1001; order <= 1003; order++) await publish('order.created', 'acme', { orderId: order });
  await publish('invoice.paid', 'acme', { invoiceId: 'inv_7', amount: 4200 });
  await publish('invoice.paid', 'globex', { invoiceId: 'inv_8', amount: 990 });
  await publish('customer.updated', 'globex', { customerId: 'cus_9' });
  await publish('customer.updated', 'initech', { customerId: 'cus_12' });

  const [delivered] = await settled(
    api,
    shop.id,
    'the 200 receiver to be delivered to',
    (d) => d.status === 'succeeded',
  );
  const [rejected] = await settled(api, legacy.id, 'the 404 receiver to fail', (d) => d.status === 'failed');
  const [exhausted] = await settled(api, capped.id, 'three attempts to be used up', (d) => d.status === 'failed');
  const [retrying] = await settled(api, flaky.id, 'a few attempts at the 500 receiver', (d) => d.attemptCount >= 3);
  const [toCancel] = await settled(api, patient.id, 'a first attempt at the 500 receiver', (d) => d.attemptCount >= 1);
  if (!delivered || !rejected || !exhausted || !retrying || !toCancel) throw new Failure('a delivery is missing');
  const cancelled = await api<Delivery>('POST', `/v1/deliveries/${toCancel.id}/cancel`);
  if (cancelled.status !== 'cancelled') throw new Failure(`cancel left the delivery ${cancelled.status}`);
  log(
    `deliveries: delivered ${delivered.workflowId}, failed ${rejected.workflowId} and ${exhausted.workflowId}, ` +
      `retrying ${retrying.workflowId}, cancelled ${cancelled.workflowId}`,
  );
  return { rejected, retrying, cancelled, exhausted, delivered };
}

// ---------------------------------------------------------------------------------------------
// Chromium, driven through the DevTools protocol

/** A DevTools protocol session with one page. */
class Page {
  private nextId = 1;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const call = message.id === undefined ? undefined : this.calls.get(message.id);
      if (!call || message.id === undefined) return;
      this.calls.delete(message.id);
      if (message.error) call.reject(new Failure(message.error.message));
      else call.resolve(message.result);
    });
    socket.addEventListener('close', () => {
      for (const call of this.calls.values()) call.reject(new Failure('Chromium closed the connection'));
      this.calls.clear();
    });
  }

  static async open(url: string): Promise<Page> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve());
      socket.addEventListener('error', () => reject(new Failure(`cannot connect to Chromium at ${url}`)));
    });
    return new Page(socket);
  }

  send<T>(method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Runs `expression` in the page (awaiting a promise) and returns its value; a thrown error fails. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send<{
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    }>('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (exceptionDetails) throw new Failure(exceptionDetails.exception?.description ?? exceptionDetails.text);
    return result.value as T;
  }

  /** The page's text, with that of its frames (the UI renders Markdown in frames of its own origin). */
  text(): Promise<string> {
    return this.evaluate<string>(`[document, ...[...document.querySelectorAll('iframe')].map((f) => f.contentDocument)]
      .map((doc) => (doc && doc.body ? doc.body.innerText : ''))
      .join('\\n')`);
  }

  /** Clicks each element in turn, waiting up to 10 s for each to appear. */
  async click(...selectors: string[]): Promise<void> {
    await this.evaluate(`(async () => {
      for (const selector of ${JSON.stringify(selectors)}) {
        let element = null;
        for (let i = 0; i < 100 && !element; i++) {
          element = document.querySelector(selector);
          if (!element) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        if (!element) throw new Error('the Temporal UI shows no ' + selector);
        element.click();
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
    })()`);
  }

  close(): void {
    this.socket.close();
  }
}

async function startChromium(binary: string, profileDir: string): Promise<Page> {
  await mkdir(profileDir, { recursive: true });
  const child = spawn(
    binary,
    [
      '--headless',
      '--disable-gpu',
      '--no-sandbox',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--hide-scrollbars',
      '--window-size=1600,1000',
      `--user-data-dir=${profileDir}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      'about:blank',
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  cleanups.push({ name: 'chromium', run: () => stopProcessGroup(child, 5_000) });
  const portFile = path.join(profileDir, 'DevToolsActivePort');
  const port = await waitFor('Chromium to start', 30_000, async () => {
    if (child.exitCode !== null) throw new Failure(`Chromium exited with code ${child.exitCode}: ${stderr}`);
    const [line] = (await readFile(portFile, 'utf8')).split('\n');
    return line && /^\d+$/.test(line) ? Number(line) : undefined;
  });
  const target = await waitFor('a Chromium page', 10_000, async () => {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
      type: string;
      webSocketDebuggerUrl?: string;
    }>;
    return list.find((candidate) => candidate.type === 'page' && candidate.webSocketDebuggerUrl);
  });
  const page = await Page.open(target.webSocketDebuggerUrl as string);
  cleanups.push({ name: 'chromium connection', run: async () => page.close() });
  await page.send('Page.enable');
  await page.send('Runtime.enable');
  return page;
}

/** Waits until the page's text holds every string of `shows`. */
async function waitForText(page: Page, what: string, shows: readonly string[]): Promise<void> {
  await waitFor(`${what} to show ${shows.map((s) => `'${s}'`).join(', ')}`, 45_000, async () => {
    const text = await page.text();
    return shows.every((s) => text.includes(s)) ? true : undefined;
  });
}

interface Shot {
  readonly file: string;
  readonly url: string;
  readonly viewport: { readonly width: number; readonly height: number };
  /** Texts the page shows once loaded (the UI is a JavaScript application: its first frame is empty). */
  readonly loaded: readonly string[];
  /** Clicks after loading, in order (CSS selectors). */
  readonly clicks?: readonly string[];
  /** Texts the page shows once the clicks have taken effect. */
  readonly shows?: readonly string[];
}

/** Opens the page, waits for its content, clicks, waits again, lets it settle and saves a PNG. */
async function screenshot(page: Page, shot: Shot): Promise<void> {
  const name = path.basename(shot.file);
  await page.send('Emulation.setDeviceMetricsOverride', { ...shot.viewport, deviceScaleFactor: 1, mobile: false });
  await page.send('Page.navigate', { url: shot.url });
  try {
    await waitForText(page, name, shot.loaded);
    if (shot.clicks) await page.click(...shot.clicks);
    if (shot.shows) await waitForText(page, name, shot.shows);
  } catch (error) {
    // What the page showed instead, to see why.
    const shown = path.join(os.tmpdir(), `not-${name}`);
    const { data } = await page.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
    await writeFile(shown, Buffer.from(data, 'base64'));
    process.stderr.write(`The page (${shot.url}) shows, in ${shown}:\n${(await page.text()).slice(0, 2000)}\n`);
    throw error;
  }
  // Fonts, icons, the last requests and transitions of the page.
  await sleep(1_500);
  const { data } = await page.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
  await writeFile(shot.file, Buffer.from(data, 'base64'));
  const { size } = await stat(shot.file);
  if (size > MAX_PNG_BYTES) {
    throw new Failure(`${shot.file} is ${Math.round(size / 1024)} KB, over ${MAX_PNG_BYTES / 1024} KB`);
  }
  log(`wrote ${path.relative(ROOT, shot.file)} (${Math.round(size / 1024)} KB)`);
}

/** The workflow list's columns for deliveries: the run id and type out, event type and account in. */
const DELIVERY_COLUMNS = [
  'button[aria-label="Configure Columns"]',
  ...['Run ID', 'Type', 'Start', 'End'].map((column) => `button[aria-label="Remove ${column} column"]`),
  ...['WebhookEventType', 'WebhookAccountId', 'End'].map((column) => `button[aria-label="Add ${column} column"]`),
  'button[aria-label="Close Workflows Table configuration"]',
];

function shots(uiPort: number, scene: Scene): Shot[] {
  const ui = `http://127.0.0.1:${uiPort}/namespaces/${NAMESPACE}`;
  // Without a run id the UI opens the latest run.
  const workflow = (delivery: Delivery) => `${ui}/workflows/${encodeURIComponent(delivery.workflowId)}`;
  const tab = (name: string) => `a[href$="/${name}"]`;
  return [
    {
      file: path.join(IMAGES, 'failed-delivery.png'),
      url: workflow(scene.rejected),
      viewport: { width: 1400, height: 780 },
      loaded: ['FAILED', scene.rejected.workflowId, 'ReceiverRejected'],
    },
    {
      file: path.join(IMAGES, 'delivery-metadata.png'),
      url: workflow(scene.rejected),
      viewport: { width: 1400, height: 820 },
      loaded: ['FAILED', scene.rejected.workflowId],
      clicks: [tab('user-metadata')],
      shows: ['order.created →', 'Retry policy'],
    },
    {
      file: path.join(IMAGES, 'failed-list.png'),
      url: `${ui}/workflows?query=${encodeURIComponent('ExecutionStatus = "Failed"')}`,
      viewport: { width: 1540, height: 560 },
      loaded: [scene.rejected.workflowId, scene.exhausted.workflowId],
      // The raw query box, and columns that tell deliveries apart.
      clicks: ['[data-testid="toggle-manual-query"]', ...DELIVERY_COLUMNS],
      shows: ['WebhookEventType', 'customer.updated'],
    },
    {
      file: path.join(IMAGES, 'pending-activity.png'),
      url: workflow(scene.retrying),
      viewport: { width: 1400, height: 820 },
      loaded: ['RUNNING', scene.retrying.workflowId],
      clicks: [tab('pending-activities')],
      shows: ['postWebhook', 'Last Failure', 'receiver answered HTTP 500'],
    },
  ];
}

// ---------------------------------------------------------------------------------------------

/** Set while --keep holds everything up: ends the wait. */
let endKeep: (() => void) | undefined;

async function main(): Promise<void> {
  const startedAt = Date.now();
  const elapsed = () => `${Math.round((Date.now() - startedAt) / 1000)} s`;
  const chromium = findChromium();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-screenshots-'));
  cleanups.push({ name: 'temporary directory', run: () => rm(dataDir, { recursive: true, force: true }) });
  const [apiPort = 0, temporalPort = 0, uiPort = 0] = await freePorts(3);
  const ports: Ports = { api: apiPort, temporal: temporalPort, ui: uiPort };
  await startService(dataDir, ports);
  log(`service up after ${elapsed()}`);
  const api = apiClient(ports.api);
  const scene = await populate(api);
  log(`deliveries in place after ${elapsed()}`);

  await mkdir(IMAGES, { recursive: true });
  const page = await startChromium(chromium, path.join(dataDir, 'chromium'));
  for (const shot of shots(ports.ui, scene)) await screenshot(page, shot);
  log(`done in ${elapsed()}`);

  if (KEEP) {
    const cli = existsSync(BUNDLED_CLI) ? path.relative(process.cwd(), BUNDLED_CLI) : 'temporal';
    log('--keep: everything stays up until Ctrl-C (30 minutes at most):');
    log(`  Temporal UI   http://127.0.0.1:${ports.ui}`);
    log(`  temporal CLI  TEMPORAL_ADDRESS=127.0.0.1:${ports.temporal} ${cli} workflow list`);
    log(`  API           http://127.0.0.1:${ports.api}  (authorization: Bearer ${API_KEY})`);
    for (const [name, delivery] of Object.entries(scene)) {
      log(`  ${name.padEnd(10)} ${delivery.id}  ${delivery.workflowId}`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, KEEP_MS);
      endKeep = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

async function cleanUp(): Promise<void> {
  for (const { name, run } of cleanups.reverse()) {
    await run().catch((error: unknown) => log(`stopping ${name} failed: ${String(error)}`));
  }
  cleanups.length = 0;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (endKeep) return endKeep();
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping what was started`);
    void cleanUp().then(() => process.exit(130));
  });
}

const bound = setTimeout(
  () => {
    log(`gave up after ${TIMEOUT_MS / 1000} s; stopping what was started`);
    void cleanUp().then(() => process.exit(1));
  },
  TIMEOUT_MS + (KEEP ? KEEP_MS : 0),
);

void main()
  .then(
    () => 0,
    (error: unknown) => {
      const message = error instanceof Failure ? error.message : error instanceof Error ? error.stack : String(error);
      process.stderr.write(`screenshots: ${message}\n`);
      return 1;
    },
  )
  .then(async (code) => {
    await cleanUp();
    clearTimeout(bound);
    process.exit(code);
  });
