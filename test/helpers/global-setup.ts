/**
 * Jest global setup: runs once, before any worker starts. Variables set on process.env here
 * are inherited by the workers, which is how test files learn the binary paths and database.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../../devtools/temporal-cli';
import { findTemporalTestServer } from './temporal-test-server';
import { writeWorkflowBundle } from '../../src/temporal/workflow-bundle';
import { findPostgresBin, startPostgres, type TestPostgres } from './postgres';

declare global {
  /** The test PostgreSQL, handed to global-teardown.ts, which runs in this same process. */
  var webhooksTestPostgres: TestPostgres | undefined;
}

export default async function globalSetup(): Promise<void> {
  const log = (msg: string): void => console.log(`[global-setup] ${msg}`);
  // Bundled once for the run: test files and the worker processes they spawn load this file.
  process.env.TEMPORAL_WORKFLOW_BUNDLE = await writeWorkflowBundle(
    path.join(mkdtempSync(path.join(os.tmpdir(), 'webhooks-bundle-')), 'workflow-bundle.js'),
  );
  process.env.TEMPORAL_CLI_PATH = await findTemporalCli({
    explicitPath: process.env.TEMPORAL_CLI_PATH,
    toolsDir: DEFAULT_TOOLS_DIR,
    install: true,
    log,
  });
  process.env.TEMPORAL_TEST_SERVER_PATH = await findTemporalTestServer({
    explicitPath: process.env.TEMPORAL_TEST_SERVER_PATH,
    toolsDir: DEFAULT_TOOLS_DIR,
    install: true,
    log,
  });

  if (findPostgresBin()) {
    const postgres = await startPostgres();
    globalThis.webhooksTestPostgres = postgres;
    process.env.TEST_DATABASE_URL = postgres.url;
    return;
  }
  const missing = 'PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/install-postgres.sh)';
  if (process.env.CI) {
    throw new Error(`${missing}; CI must test against a real PostgreSQL.`);
  }
  console.warn(
    `\n${'!'.repeat(78)}\n!! ${missing}.\n!! TEST_DATABASE_URL is unset: tests that need PostgreSQL will not run against it.\n${'!'.repeat(78)}\n`,
  );
}
