/**
 * How a service process is launched, for the tests and the benchmark that spawn one: the same node
 * flags and environment defaults as package.json's `start`, `api` and `worker` scripts (keep the
 * two in step; README, "Configuration", says why each is there).
 */

/**
 * `--require tsx/cjs`: TypeScript through tsx's in-thread require hook; the `tsx` command adds an
 * ESM loader thread (about 40 MB) this CommonJS project does not need.
 * `--heap-growing-percent=20`: V8 grows the heap by 20% between major collections instead of up to
 * 4×, so garbage from a burst of attempts does not stay resident while deliveries wait.
 */
export const SERVICE_NODE_ARGS: readonly string[] = ['--heap-growing-percent=20', '--require', 'tsx/cjs'];

/** Defaults the scripts set unless the environment gives them: `MALLOC_ARENA_MAX=2`. */
export const SERVICE_ENV_DEFAULTS: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
