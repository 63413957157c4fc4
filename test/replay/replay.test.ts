/**
 * Workflow code must keep replaying the histories of deliveries already in flight. Every recorded
 * shape (shapes.ts; record with `npm run replay:record`) is replayed against the current
 * workflows/ code with the SDK's replayer, in every generation of workflow code that may still
 * have deliveries open (`<shape>@<patch>.json`, recorded by the code that introduced that patch).
 * Every patch the workflow code checks must have its generation here. Two variants show the test
 * has teeth: an unguarded change fails it, the same change behind `patched()` passes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { quietRuntime } from '../helpers/temporal-env';
import { DeterminismViolationError } from '@temporalio/workflow';
import { workflowBundle } from '../helpers/harness';
import { loadHistories, type RecordedHistory } from './histories';
import { SHAPES } from './shapes';
import { DELIVERY_WORKFLOW_REVISION } from '../../workflows/messages';

/** The generation of `<shape>.json`: the code from before any patch. */
const FIRST_GENERATION = '(before any patch)';
const WORKFLOWS_DIR = path.join(__dirname, '../../workflows');

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never;

let histories: RecordedHistory[];

beforeAll(() => {
  quietRuntime();
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

/** Which workflow code recorded a history: the patch named after '@' in its file name. */
const generationOf = (h: RecordedHistory): string => h.name.split('@')[1] ?? FIRST_GENERATION;

/** The patch ids a history's patch markers record. */
function patchesOf(h: RecordedHistory): string[] {
  return (h.history.events ?? []).flatMap((event) => {
    const marker = event.markerRecordedEventAttributes;
    const data = marker?.markerName === 'core_patch' ? marker.details?.['patch-data']?.payloads?.[0]?.data : undefined;
    return data ? [(JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id] : [];
  });
}

/** The code revision a history's run was started for (its input's `revision`); 0 before revisions. */
function revisionOf(h: RecordedHistory): number {
  const data = h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  return data ? ((JSON.parse(Buffer.from(data).toString('utf8')) as { revision?: number }).revision ?? 0) : 0;
}

/** Every patch id workflows/ passes to patched() or deprecatePatch(), literally or through a const. */
function patchesInWorkflowCode(): string[] {
  const found = new Set<string>();
  for (const file of readdirSync(WORKFLOWS_DIR).filter((name) => name.endsWith('.ts'))) {
    const source = readFileSync(path.join(WORKFLOWS_DIR, file), 'utf8');
    for (const [, arg] of source.matchAll(/\b(?:patched|deprecatePatch)\(\s*([^)]*?)\s*\)/g)) {
      const literal = /^(['"])(.+)\1$/.exec(arg ?? '')?.[2];
      const viaConst = new RegExp(`\\bconst ${arg} = (['"])(.+?)\\1`).exec(source)?.[2];
      const id = literal ?? viaConst;
      if (!id) throw new Error(`${file}: cannot tell which patch id ${arg} is; teach this test`);
      found.add(id);
    }
  }
  return [...found].sort();
}

test('a recorded history of every workflow shape is present, in every generation of the workflow code', () => {
  expect([...new Set(histories.map((h) => h.shape))].sort()).toEqual(Object.keys(SHAPES).sort());
  for (const h of histories) expect(h.workflowType).toBe('deliveryWorkflow');
  const generations = [...new Set(histories.map(generationOf))];
  for (const generation of generations) {
    const shapes = histories.filter((h) => generationOf(h) === generation).map((h) => h.shape);
    expect({ generation, shapes: shapes.sort() }).toEqual({ generation, shapes: Object.keys(SHAPES).sort() });
  }
});

test('every patch in the workflow code has a generation of recorded histories, which carry it', () => {
  const patches = patchesInWorkflowCode();
  expect(patches.length).toBeGreaterThan(0);
  const generations = new Set(histories.map(generationOf));
  for (const patch of patches) expect({ patch, recorded: generations.has(patch) }).toEqual({ patch, recorded: true });
  for (const generation of generations) {
    const recorded = histories.filter((h) => generationOf(h) === generation).flatMap(patchesOf);
    if (generation === FIRST_GENERATION || /^revision-\d+$/.test(generation)) expect(recorded).toEqual([]);
    else expect(recorded).toContain(generation);
  }
});

test('the current revision of the workflow code has a generation of recorded histories, started for it', () => {
  const generation = `revision-${DELIVERY_WORKFLOW_REVISION}`;
  const recorded = histories.filter((h) => generationOf(h) === generation);
  expect(recorded.length).toBeGreaterThan(0);
  for (const h of recorded)
    expect({ name: h.name, revision: revisionOf(h) }).toEqual({ name: h.name, revision: DELIVERY_WORKFLOW_REVISION });
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
