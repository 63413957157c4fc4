/**
 * The messages of a bulk operation's workflow (workflows/operation.ts): the one place that names
 * them, for the API, the workflow, the tests and an operator querying it from the Temporal UI.
 */
import { defineQuery } from '@temporalio/workflow';
import type { OperationProgress } from '../activities/operations';
import type { OperationKind } from '../core/model';

/** Where the operation stands: its status, and deliveries matched, done and remaining. */
export const operationProgressQuery = defineQuery<OperationProgress>('progress');

export interface OperationWorkflowInput {
  readonly operationId: string;
  readonly kind: OperationKind;
  readonly subscriptionId: string;
  /** Where the operation stood when this run started (counted when it began, carried over by continue-as-new). */
  readonly progress: OperationProgress;
}
