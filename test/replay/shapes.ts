/**
 * Every shape of delivery workflow history the replay test must cover. `record.ts` records one
 * history per shape into histories/<shape>.json; `replay.test.ts` fails when one is missing.
 */
export const SHAPES = {
  success: 'the receiver answers 2xx on the first attempt',
  'retries-then-success': 'two 500s, then 2xx on the third attempt',
  'retry-after-429': '429 with Retry-After (the next attempt waits as asked), then 2xx',
  'rejected-4xx': '404: final after one attempt, the delivery fails',
  'cancelled-by-signal': 'cancelled through the API (the cancel signal) while waiting to retry',
  'cancelled-in-temporal': "cancelled with Temporal's own cancellation (the UI's cancel button) while waiting to retry",
  'resend-pending': 'a resend signal skips the remaining backoff of a pending delivery',
  'resend-after-failure': 'a failed delivery resent: a new run started with the resend signal (signalWithStart)',
  'window-48h':
    'a receiver that always answers 500: the delivery fails when no attempt fits in 48 h (time-skipping server)',
} as const;

export type Shape = keyof typeof SHAPES;
