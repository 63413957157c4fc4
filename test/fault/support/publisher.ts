/**
 * A producer that does what a well-behaved client does: it posts each event with its own id and
 * retries the same request (same id) on connection errors and 5xx, honouring Retry-After, until it
 * gets an answer or gives up. Bounded in attempts and time.
 */

export interface PublishOptions {
  /** API base URLs; event i goes to apis[i % apis.length] first, then the next on retry. */
  readonly apis: () => readonly string[];
  readonly apiKey: string;
  /** Requests in flight at once. @default 16 */
  readonly concurrency?: number;
  /** Attempts per event before giving up. @default 200 */
  readonly maxAttempts?: number;
  /** Give up on everything after this, ms. @default 120000 */
  readonly deadlineMs?: number;
  /** Wait between attempts when the API sent no Retry-After, ms. @default 250 */
  readonly retryDelayMs?: number;
  /** Cap on a Retry-After wait, ms. @default 2000 */
  readonly maxRetryAfterMs?: number;
  /** Events started per second at most, to spread the load over time. @default unlimited */
  readonly ratePerSecond?: number;
}

export interface PublishResult {
  /** Event ids the API acknowledged with 202. */
  readonly acknowledged: Set<string>;
  /** Event ids never acknowledged (gave up). */
  readonly unacknowledged: string[];
  /** Answers seen, by HTTP status or 'network'. */
  readonly answers: Map<string, number>;
  /** Retry-After values seen on 503s. */
  readonly retryAfter: Set<string>;
  /** deliveryCount of each acknowledged event, as the API reported it. */
  readonly deliveryCounts: Map<string, number>;
  /** When each event was first acknowledged (epoch ms). */
  readonly acknowledgedAt: Map<string, number>;
  /** Acknowledgements by API base URL. */
  readonly acknowledgedBy: Map<string, number>;
}

export interface EventSpec {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function emptyResult(): PublishResult {
  return {
    acknowledged: new Set(),
    unacknowledged: [],
    answers: new Map(),
    retryAfter: new Set(),
    deliveryCounts: new Map(),
    acknowledgedAt: new Map(),
    acknowledgedBy: new Map(),
  };
}

/** Publishes every event; `result` fills in as answers arrive, so a scenario can watch progress. */
export async function publish(
  events: readonly EventSpec[],
  options: PublishOptions,
  result: PublishResult = emptyResult(),
): Promise<PublishResult> {
  const deadline = Date.now() + (options.deadlineMs ?? 120_000);
  const maxAttempts = options.maxAttempts ?? 200;
  const count = (answer: string): void => {
    result.answers.set(answer, (result.answers.get(answer) ?? 0) + 1);
  };

  const publishOne = async (index: number, event: EventSpec): Promise<void> => {
    for (let attempt = 0; attempt < maxAttempts && Date.now() < deadline; attempt += 1) {
      const apis = options.apis();
      const api = apis[(index + attempt) % apis.length] as string;
      let wait = options.retryDelayMs ?? 250;
      try {
        const response = await fetch(`${api}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(10_000),
        });
        count(String(response.status));
        const body = (await response.json().catch(() => undefined)) as { deliveryCount?: number } | undefined;
        if (response.status === 202) {
          result.acknowledged.add(event.id);
          result.acknowledgedAt.set(event.id, Date.now());
          result.deliveryCounts.set(event.id, body?.deliveryCount ?? -1);
          result.acknowledgedBy.set(api, (result.acknowledgedBy.get(api) ?? 0) + 1);
          return;
        }
        if (response.status < 500)
          throw new Error(`POST /v1/events ${event.id}: ${response.status} ${JSON.stringify(body)}`);
        const retryAfter = response.headers.get('retry-after');
        if (retryAfter !== null) {
          result.retryAfter.add(retryAfter);
          wait = Math.min(Number(retryAfter) * 1000, options.maxRetryAfterMs ?? 2_000);
        }
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('POST /v1/events')) throw error;
        count('network');
      }
      await sleep(wait);
    }
    result.unacknowledged.push(event.id);
  };

  let next = 0;
  const startedAt = Date.now();
  const lane = async (): Promise<void> => {
    while (next < events.length) {
      const index = next++;
      if (options.ratePerSecond) await sleep(startedAt + (index * 1000) / options.ratePerSecond - Date.now());
      await publishOne(index, events[index] as EventSpec);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 16, events.length) }, lane));
  return result;
}

/** Calls the API with the admin key; throws unless the status is one of `expect`. */
export async function callApi<T = unknown>(
  api: string,
  apiKey: string,
  method: string,
  path: string,
  body?: unknown,
  expect: number[] = [200, 201, 202],
): Promise<T> {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!expect.includes(response.status)) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
