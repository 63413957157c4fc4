import { fork } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** `npm run bundle`: the script that writes the bundle, run as a child process below. */
const BUNDLE_SCRIPT = path.join(__dirname, '../../scripts/build-workflow-bundle.ts');

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
 * Bundles workflows/ into one file a worker loads with `workflowBundle: { codePath }`, so worker
 * start-up skips the bundling step (seconds of CPU). Rebuild it whenever workflows/ changes.
 */
export async function writeWorkflowBundle(outFile: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: quietBundlerLogger,
  });
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

/** Bundles workflows/ in a short-lived child process (see above) and returns the code. */
export async function bundleInChildProcess(): Promise<{ code: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'workflow-bundle-'));
  const outFile = path.join(dir, 'workflow-bundle.js');
  try {
    await writeWorkflowBundleInChildProcess(outFile);
    return { code: await readFile(outFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
