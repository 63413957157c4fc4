import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Store } from './store';
import { checkTargetUrl, type TargetPolicy } from './domain/targets';
import { createActivities } from '../activities';
import { createHttpAgent } from '../activities/http';

export interface DeliveryWorkerDeps {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly store: Store;
  readonly logger: Logger;
  readonly targets: TargetPolicy;
  /** Pre-bundled workflow code; bundled from workflows/ at start-up when absent. */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
  /** Extra worker tuning (concurrency, cache size…), for benchmarks and tests. */
  readonly tuning?: Partial<WorkerOptions>;
}

/** The worker that runs delivery workflows and their activities. Run it with `worker.run()`. */
export async function createDeliveryWorker(deps: DeliveryWorkerDeps): Promise<Worker> {
  const http = createHttpAgent();
  const activities = createActivities({
    deliveries: deps.store.deliveries,
    http,
    logger: deps.logger,
    checkTarget: async (url) => {
      checkTargetUrl(url, deps.targets);
    },
  });
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    activities,
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    ...deps.tuning,
  });
}
