import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SEARCH_ATTRIBUTE_KEYS } from '../../core/search-attributes';

/** Reads a binary path exported by global-setup.ts, failing clearly when a test runs without it. */
function binaryPath(name: 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH'): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set; run the tests through jest so test/helpers/global-setup.ts finds the binary.`);
  }
  return value;
}

let runtimeInstalled = false;

/**
 * The SDK logs every failed attempt as a warning; tests fail attempts on purpose (and replay
 * altered histories), so only errors are shown. The runtime must be installed before the first
 * connection or replay: the environments below call it, a replay test calls it itself.
 */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    // Quiet, including the core's warnings about the test server's capabilities.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // The test file installed its own runtime (e.g. to capture the SDK's logs): keep it.
  }
}

/**
 * A real Temporal dev server (in memory, random port) with our search attributes registered;
 * with `metricsPort`, the server's own Prometheus metrics are served there (loopback).
 */
export function createTestTemporal(options: { metricsPort?: number } = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: binaryPath('TEMPORAL_CLI_PATH') },
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      extraArgs: [
        '--log-level',
        'error',
        // As the embedded server and compose run it (WEBHOOKS_FAIRNESS).
        '--dynamic-config-value',
        'matching.enableFairness=true',
        ...(options.metricsPort !== undefined ? ['--metrics-port', String(options.metricsPort)] : []),
      ],
    },
  });
}

/**
 * The Java time-skipping test server: timers of hours complete at once. Our search attributes are
 * registered too, or it rejects the start of a delivery workflow ("search attribute … is not
 * defined"). It implements AddSearchAttributes but not ListSearchAttributes, so
 * `registerSearchAttributes` from src/temporal/connection.ts cannot be used here.
 */
export async function createTimeSkippingTemporal(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: {
      executable: { type: 'existing-path', path: binaryPath('TEMPORAL_TEST_SERVER_PATH') },
    },
  });
  try {
    await env.connection.withDeadline(Date.now() + 10_000, () =>
      env.connection.operatorService.addSearchAttributes({
        namespace: env.namespace ?? 'default',
        searchAttributes: Object.fromEntries(
          SEARCH_ATTRIBUTE_KEYS.map((key) => [
            key.name,
            temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`],
          ]),
        ),
      }),
    );
  } catch (error) {
    await env.teardown();
    throw error;
  }
  return env;
}
