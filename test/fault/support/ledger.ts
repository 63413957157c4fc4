/**
 * Counting: what was owed (every acknowledged event × every matching subscription), what the
 * receiver processed, what was lost, and every duplicate with the reason the receiver saw the same
 * webhook-id again.
 */
import type { Receipt } from './receiver';

/** A fault injected into a scenario, from when it started to when it was repaired (epoch ms). */
export interface FaultWindow {
  readonly label: string;
  readonly start: number;
  readonly end: number;
  /** Whether it can cut a delivery attempt (a worker, Temporal or store outage can; an API crash cannot). */
  readonly cutsAttempts: boolean;
}

export interface Duplicate {
  /** `webhook-id|subscription`. */
  readonly key: string;
  /** How many times the receiver processed it. */
  readonly times: number;
  readonly explanation: string;
  /** False when nothing accounts for it: a broken promise. */
  readonly explained: boolean;
}

export interface Tally {
  readonly expected: number;
  readonly delivered: number;
  readonly lost: string[];
  /** Extra processings beyond the first, summed over keys. */
  readonly duplicated: number;
  readonly duplicates: Duplicate[];
  /** Processed keys nobody owed (an event id that was never posted). */
  readonly unexpected: string[];
}

export interface TallyInput {
  readonly expected: ReadonlySet<string>;
  /** Accepted receipts by `webhook-id|subscription`. */
  readonly accepted: ReadonlyMap<string, Receipt[]>;
  readonly faults: readonly FaultWindow[];
  /**
   * How long before a fault an attempt may have started and still been in flight when it struck,
   * ms: the attempt's start-to-close timeout.
   */
  readonly inFlightMs: number;
  /** Reads why Temporal retried the attempt (the last failure of the delivery's activity), if it can. */
  readonly lastFailure?: (key: string) => Promise<string | undefined>;
}

/** Why the receiver processed `again` after it had processed `before`. */
async function explain(key: string, before: Receipt, again: Receipt, input: TallyInput): Promise<string | undefined> {
  // The fault struck while the first attempt was in flight (or before its outcome was reported),
  // and the receiver saw the retry after the fault began.
  const fault = input.faults.find(
    (f) => f.cutsAttempts && before.at >= f.start - input.inFlightMs && before.at <= f.end && again.at >= f.start,
  );
  if (fault) return `attempt cut by ${fault.label}`;
  if (before.answered === false)
    return `attempt timed out before the receiver's 2xx (answered after ${(before.endedAt ?? before.at) - before.at} ms)`;
  const failure = await input.lastFailure?.(key).catch(() => undefined);
  if (failure && /timeout|timed out/i.test(failure)) return `attempt cut by a timeout: ${failure}`;
  return undefined;
}

export async function tally(input: TallyInput): Promise<Tally> {
  const lost: string[] = [];
  let delivered = 0;
  for (const key of input.expected) {
    if (input.accepted.has(key)) delivered += 1;
    else lost.push(key);
  }
  const duplicates: Duplicate[] = [];
  let duplicated = 0;
  const unexpected: string[] = [];
  for (const [key, receipts] of input.accepted) {
    if (!input.expected.has(key)) unexpected.push(key);
    if (receipts.length < 2) continue;
    duplicated += receipts.length - 1;
    const reasons = new Set<string>();
    let explained = true;
    for (let i = 1; i < receipts.length; i += 1) {
      const reason = await explain(key, receipts[i - 1] as Receipt, receipts[i] as Receipt, input);
      if (reason === undefined) explained = false;
      reasons.add(reason ?? 'UNEXPLAINED');
    }
    duplicates.push({ key, times: receipts.length, explanation: [...reasons].join('; '), explained });
  }
  return { expected: input.expected.size, delivered, lost, duplicated, duplicates, unexpected };
}

export interface TableRow {
  readonly fault: string;
  readonly expected: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Why the duplicates happened, and anything else worth a line. */
  readonly notes: string;
  /** How long the scenario took, s. */
  readonly seconds: number;
}

/** A Markdown table, as printed by the suite and copied into docs/reliability.md. */
export function renderTable(rows: readonly TableRow[]): string {
  const header = ['fault', 'deliveries expected', 'delivered', 'lost', 'duplicated', 'time', 'notes'];
  const lines = rows.map((row) => [
    row.fault,
    String(row.expected),
    String(row.delivered),
    String(row.lost),
    String(row.duplicated),
    `${row.seconds} s`,
    row.notes,
  ]);
  return [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** "3 × attempt cut by worker SIGKILL #1; 1 × …" */
export function summarizeDuplicates(duplicates: readonly Duplicate[]): string {
  const counts = new Map<string, number>();
  for (const d of duplicates) {
    const reason = d.explanation.replace(/ \(answered after \d+ ms\)/, '').replace(/: .*$/, '');
    counts.set(reason, (counts.get(reason) ?? 0) + d.times - 1);
  }
  return [...counts].map(([reason, n]) => `${n} × ${reason}`).join('; ');
}
