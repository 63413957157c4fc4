import type { Context } from '@temporalio/activity';

/**
 * Heartbeats on a timer until the returned function is called, so Temporal can deliver a
 * cancellation to the activity and notices a lost worker. A local activity has no heartbeat: its
 * cancellation comes from its own worker.
 */
export function keepHeartbeating(context: Context, intervalMs: number): () => void {
  if (context.info.isLocal) return () => undefined;
  const timer = setInterval(() => context.heartbeat(), intervalMs);
  return () => clearInterval(timer);
}
