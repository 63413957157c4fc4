/**
 * Workflow code must keep replaying the histories of deliveries already in flight. Every recorded
 * shape (shapes.ts; record with `npm run replay:record`) is replayed against the current
 * workflows/ code with the SDK's replayer. Two variants show the test has teeth: an unguarded
 * change fails it, the same change behind `patched()` passes.
 */
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { workflowBundle } from '../helpers/harness';
import { loadHistories, type RecordedHistory } from './histories';
import { SHAPES } from './shapes';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never;

let histories: RecordedHistory[];

beforeAll(() => {
  try {
    // Quiet: the unsafe variant makes the replayer log every non-determinism it finds.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Already installed in this test worker.
  }
  histories = loadHistories();
});

/** Replays every history; returns the errors by history name (empty when all replay). */
async function replayAll(bundle: { code: string }): Promise<Record<string, unknown>> {
  const errors: Record<string, unknown> = {};
  const byId = new Map(histories.map((h) => [h.workflowId, h.name]));
  const results = Worker.runReplayHistories(
    { workflowBundle: bundle, replayName: 'replay-test' },
    histories.map(({ workflowId, history }) => ({ workflowId, history })),
  );
  for await (const result of results) {
    if (result.error) errors[byId.get(result.workflowId) ?? result.workflowId] = result.error;
  }
  return errors;
}

function bundleVariant(name: string): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: require.resolve(`./variants/${name}`), logger: silent });
}

test('a recorded history of every workflow shape is present', () => {
  expect([...new Set(histories.map((h) => h.shape))].sort()).toEqual(Object.keys(SHAPES).sort());
  for (const h of histories) expect(h.workflowType).toBe('deliveryWorkflow');
});

test('the current workflow code replays every recorded history', async () => {
  expect(await replayAll(await workflowBundle())).toEqual({});
}, 120_000);

test('an unguarded change to the workflow is caught as non-determinism', async () => {
  const errors = await replayAll(await bundleVariant('unsafe-change'));
  expect(Object.keys(errors).sort()).toEqual(histories.map((h) => h.name).sort());
  for (const error of Object.values(errors)) expect(error).toBeInstanceOf(DeterminismViolationError);
}, 120_000);

test('the same change behind patched() replays every recorded history', async () => {
  expect(await replayAll(await bundleVariant('patched-change'))).toEqual({});
}, 120_000);
