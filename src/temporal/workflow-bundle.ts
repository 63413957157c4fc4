import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** `.ts` when this runs from source (tsx, jest), `.js` when it runs compiled, from dist/. */
const OWN_EXTENSION = path.extname(__filename);

/**
 * `npm run bundle`: the script that writes the bundle, run as a child process below. From source
 * it is the `.ts` file (tsx's loader carries over to the child); in a build, the compiled copy
 * tsconfig.build.json puts in dist/scripts/.
 */
const BUNDLE_SCRIPT = path.join(__dirname, '../../scripts', `build-workflow-bundle${OWN_EXTENSION}`);

/**
 * The bundle `npm run build` writes next to the compiled code (dist/workflow-bundle.js), built
 * from the same sources in the same step. Only a compiled service uses it: from source, a bundle
 * left in dist/ may be older than workflows/.
 */
export const BUILT_WORKFLOW_BUNDLE =
  OWN_EXTENSION === '.js' ? path.join(__dirname, '../../workflow-bundle.js') : undefined;

/** The SDK's bundler logs every step at info; only its problems matter here. */
const quietBundlerLogger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
  error: (message: string) => process.stderr.write(`workflow bundle: ${message}\n`),
  log: () => undefined,
};

/**
 * What the workflow bundle holds: the workflows of workflows/ and their interceptors
 * (workflows/interceptors.ts: OpenTelemetry's, for workflows started traced). Every bundle is
 * made with these (`npm run build`, `npm run bundle`, a worker bundling at start, the tests).
 */
export function workflowBundleOptions(): Pick<
  Parameters<typeof bundleWorkflowCode>[0],
  'workflowsPath' | 'workflowInterceptorModules'
> {
  return {
    workflowsPath: require.resolve('../../workflows'),
    workflowInterceptorModules: [require.resolve('../../workflows/interceptors')],
  };
}

/**
 * Bundles workflows/ into one file a worker loads with `workflowBundle: { codePath }`, so worker
 * start-up skips the bundling step (seconds of CPU). Rebuild it whenever workflows/ changes.
 */
export async function writeWorkflowBundle(outFile: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: quietBundlerLogger });
  const target = path.resolve(outFile);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, code);
  return target;
}

/**
 * Writes the bundle of workflows/ to `outFile` from a short-lived child process. The bundler leaves
 * about 100 MB in the memory of the process that runs it for good; in a child, that memory goes
 * with it.
 */
export function writeWorkflowBundleInChildProcess(outFile: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // fork() passes this process's execArgv on, so the TypeScript loader (tsx) carries over.
    const child = fork(BUNDLE_SCRIPT, [outFile], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`bundling the workflow code failed (${signal ?? `exit code ${code}`})`)),
    );
  });
}

/**
 * The workflow code of a worker given no bundle (TEMPORAL_WORKFLOW_BUNDLE unset). A compiled
 * service loads the bundle `npm run build` wrote next to it ({@link BUILT_WORKFLOW_BUNDLE}), so it
 * starts in about a second; otherwise workflows/ is bundled in a short-lived child process (see
 * above).
 */
export async function bundleInChildProcess(): Promise<{ code: string }> {
  if (BUILT_WORKFLOW_BUNDLE !== undefined && existsSync(BUILT_WORKFLOW_BUNDLE)) {
    return { code: await readFile(BUILT_WORKFLOW_BUNDLE, 'utf8') };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'workflow-bundle-'));
  const outFile = path.join(dir, 'workflow-bundle.js');
  try {
    await writeWorkflowBundleInChildProcess(outFile);
    return { code: await readFile(outFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
