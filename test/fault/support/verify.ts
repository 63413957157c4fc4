/**
 * The end of every scenario: wait until the deliveries settle, count at the receiver and in the
 * store, and explain every duplicate.
 */
import type { Client } from '@temporalio/client';
import { deliveryWorkflowId } from '../../../core/workflow-ids';
import type { Deployment } from './deployment';
import { summarizeDuplicates, tally, type Tally, type TableRow } from './ledger';
import type { CountingReceiver } from './receiver';

export interface Verdict {
  readonly tally: Tally;
  readonly row: Omit<TableRow, 'seconds'>;
  /** Problems that break a promise; the scenario fails when there is any. */
  readonly problems: string[];
}

/** Every (event, subscription) pair owed for these acknowledged events, as `event-id|subscription-name`. */
export function owed(eventIds: Iterable<string>, subscriptionNames: readonly string[]): Set<string> {
  const keys = new Set<string>();
  for (const id of eventIds) for (const name of subscriptionNames) keys.add(`${id}|${name}`);
  return keys;
}

/** Why Temporal ran the delivery's attempt again: the last failure its history recorded, or a workflow task that timed out. */
async function lastFailure(client: Client, deployment: Deployment, key: string): Promise<string | undefined> {
  const [eventId, name] = key.split('|') as [string, string];
  const subscriptionId = deployment.subscriptions.get(name);
  if (!subscriptionId) return undefined;
  const history = await client.workflow.getHandle(deliveryWorkflowId(eventId, subscriptionId)).fetchHistory();
  let message: string | undefined;
  for (const event of history.events ?? []) {
    const failure = event.activityTaskStartedEventAttributes?.lastFailure;
    if (failure) message = [failure.message, failure.cause?.message].filter(Boolean).join(': ');
    // A workflow task that timed out while its local first attempt ran: the next task runs the
    // attempt again, and the history keeps no activity failure for it.
    if (event.workflowTaskTimedOutEventAttributes) message ??= 'workflow task timed out during the local first attempt';
  }
  return message;
}

export interface VerifyOptions {
  readonly fault: string;
  readonly deployment: Deployment;
  readonly receiver: CountingReceiver;
  readonly client: Client;
  readonly expected: ReadonlySet<string>;
  /** How long deliveries may take to settle, ms. */
  readonly settleTimeoutMs: number;
  /** Extra notes for the table (what the fault did, timings). */
  readonly notes?: readonly string[];
}

export async function verify(options: VerifyOptions): Promise<Verdict> {
  const { deployment, receiver, expected } = options;
  const done = (): boolean => {
    const accepted = receiver.acceptedByKey();
    for (const key of expected) if (!accepted.has(key)) return false;
    return true;
  };
  const settled = await deployment.waitSettled(done, options.settleTimeoutMs);
  const result = await tally({
    expected,
    accepted: receiver.acceptedByKey(),
    faults: deployment.faults,
    // The activity's start-to-close timeout: the attempt timeout plus 10 s to record the attempt.
    inFlightMs: deployment.attemptTimeoutMs + 10_000,
    lastFailure: (key) => lastFailure(options.client, deployment, key),
  });

  const problems: string[] = [];
  if (!settled) problems.push(`did not settle within ${options.settleTimeoutMs} ms`);
  if (result.lost.length > 0) problems.push(`${result.lost.length} lost, e.g. ${result.lost.slice(0, 5).join(', ')}`);
  const unexplained = result.duplicates.filter((d) => !d.explained);
  if (unexplained.length > 0)
    problems.push(
      `${unexplained.length} unexplained duplicates, e.g. ${unexplained
        .slice(0, 5)
        .map((d) => d.key)
        .join(', ')}`,
    );
  const posted = new Set([...expected].map((key) => key.split('|')[0]));
  const stray = result.unexpected.filter((key) => !posted.has(key.split('|')[0]));
  if (stray.length > 0)
    problems.push(`${stray.length} deliveries of events never acknowledged, e.g. ${stray.slice(0, 5).join(', ')}`);

  // Our own bookkeeping: exactly one delivery row per (event, subscription), each succeeded.
  const rows = await deployment.deliveries();
  const byKey = new Map<string, number>();
  for (const row of rows) {
    const key = `${row.event_id}|${deployment.subscriptionNames.get(row.subscription_id) ?? row.subscription_id}`;
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
  }
  const missingRows = [...expected].filter((key) => !byKey.has(key));
  const doubled = [...byKey].filter(([, n]) => n > 1).map(([key]) => key);
  const notSucceeded = rows.filter((row) => row.status !== 'succeeded');
  if (missingRows.length > 0)
    problems.push(
      `${missingRows.length} owed deliveries have no row in the store, e.g. ${missingRows.slice(0, 5).join(', ')}`,
    );
  if (doubled.length > 0) problems.push(`${doubled.length} (event, subscription) pairs have several delivery rows`);
  if (notSucceeded.length > 0)
    problems.push(
      `${notSucceeded.length} delivery rows are not 'succeeded' (e.g. ${notSucceeded[0]?.workflow_id}: ${notSucceeded[0]?.status})`,
    );

  const notes = [...(options.notes ?? [])];
  if (result.duplicated > 0) notes.push(`duplicates: ${summarizeDuplicates(result.duplicates)}`);
  const row: Omit<TableRow, 'seconds'> = {
    fault: options.fault,
    expected: result.expected,
    delivered: result.delivered,
    lost: result.lost.length,
    duplicated: result.duplicated,
    notes: notes.join('; '),
  };
  return { tally: result, row, problems };
}
