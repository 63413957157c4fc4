import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Logger } from 'pino';
import type { DeliveryMetrics } from '../../activities/metrics';
import type { DeliveryStatus } from '../../core/model';
import type { DeliveryStore } from '../store/deliveries';
import { runPeriodically, type Periodic } from '../util/periodic';
import { DELIVERY_STATUS_OF_CLOSED_RUN, UNSUCCESSFUL_CLOSE_STATUSES } from './run-status';

export interface ReconcilerOptions {
  readonly client: Client;
  readonly deliveries: DeliveryStore;
  readonly logger: Logger;
  /** Pause between passes, ms. @default 5000 */
  readonly intervalMs?: number;
  /** How far back the first pass looks for closed workflows, ms. @default 3600000 (1 h) */
  readonly lookbackMs?: number;
  /** Counts the deliveries a pass ends. @default none */
  readonly metrics?: Pick<DeliveryMetrics, 'deliveryEnded'>;
}

/** Closed workflows a pass reads at most; more wait for the next pass, which starts at once. */
const PASS_LIMIT = 500;
/** Each pass looks back this much further than the last one reached: visibility lags a little. */
const OVERLAP_MS = 120_000;

/**
 * Repairs rows that disagree with Temporal: a delivery workflow that closed without writing its
 * outcome (terminated or reset from the UI or CLI, timed out, or failed by a bug) leaves its row
 * pending. Each pass lists the delivery workflows that closed other than Completed since the
 * last pass (a Completed run's attempt recorded its success), and ends the pending rows among
 * them with their latest run's status. A row written after that run closed is a resend's (it
 * marks the row pending, then starts the new run, or its caller retries), and a row that changed
 * while the pass read it is left alone.
 */
export class DeliveryReconciler {
  private since: number;
  private periodic: Periodic | undefined;

  constructor(private readonly options: ReconcilerOptions) {
    this.since = Date.now() - (options.lookbackMs ?? 3_600_000);
  }

  /** One pass; returns the rows it repaired. */
  async reconcileOnce(): Promise<{ repaired: number; full: boolean }> {
    const passStartedAt = Date.now();
    const closed: string[] = [];
    const statuses = UNSUCCESSFUL_CLOSE_STATUSES.map((status) => `ExecutionStatus = "${status}"`).join(' OR ');
    const query = `WorkflowType = "deliveryWorkflow" AND (${statuses}) AND CloseTime >= "${new Date(this.since).toISOString()}"`;
    for await (const execution of this.options.client.workflow.list({ query, pageSize: PASS_LIMIT })) {
      closed.push(execution.workflowId);
      if (closed.length >= PASS_LIMIT) break;
    }
    let repaired = 0;
    for (const row of await this.options.deliveries.pendingOf([...new Set(closed)])) {
      const latest = await this.latestClosedRun(row.workflowId);
      // Written after its run closed: a resend marked it pending and is starting its new run.
      if (latest === undefined || row.updatedAt.getTime() > latest.closedAt) continue;
      const { status } = latest;
      if (await this.options.deliveries.endIfUnchanged(row.id, status, row.version)) {
        repaired += 1;
        if (status !== 'pending') this.options.metrics?.deliveryEnded({ eventType: row.eventType, outcome: status });
        this.options.logger.warn(
          { deliveryId: row.id, workflowId: row.workflowId, status },
          'delivery row repaired from Temporal',
        );
      }
    }
    const full = closed.length >= PASS_LIMIT;
    if (!full) this.since = passStartedAt - OVERLAP_MS;
    return { repaired, full };
  }

  start(): void {
    this.periodic = runPeriodically(
      async () => (await this.reconcileOnce()).full,
      this.options.intervalMs ?? 5_000,
      (error) => this.options.logger.warn({ err: error }, 'reconciler pass failed'),
    );
  }

  async stop(): Promise<void> {
    await this.periodic?.stop();
  }

  /**
   * The row status the workflow id's latest run ended with, and when it closed (ms); undefined
   * while it runs (a new run) or when it completed (its attempt recorded the success).
   */
  private async latestClosedRun(workflowId: string): Promise<{ status: DeliveryStatus; closedAt: number } | undefined> {
    try {
      const { status, closeTime } = await this.options.client.workflow.getHandle(workflowId).describe();
      const ended = status.name === 'COMPLETED' ? undefined : DELIVERY_STATUS_OF_CLOSED_RUN[status.name];
      return ended === undefined || closeTime === undefined
        ? undefined
        : { status: ended, closedAt: closeTime.getTime() };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  }
}
