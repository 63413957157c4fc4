/**
 * devtools/temporal-dev-server.ts: the embedded Temporal server `npm start` runs. Production
 * code, not a test tool (the tests use the SDK's own environments, test/helpers/temporal-env.ts),
 * and nothing else in the fast suite starts it: without this file a broken `npm start` would show
 * only in the slow fault suite.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { DevServerStartError, startDevServer } from '../../devtools/temporal-dev-server';
import { freePort } from '../helpers/ports';

const silentLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-devserver-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('starts headless on a SQLite file in a new folder, with its namespace and search attributes, and stops', async () => {
  const dbFile = path.join(dir, 'nested', 'temporal.db');
  const server = await startDevServer({
    cliPath: process.env.TEMPORAL_CLI_PATH ?? '',
    dbFile,
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'webhooks-test',
    searchAttributes: { WebhookEventType: 'Keyword' },
    headless: true,
    logger: silentLogger,
  });
  try {
    const connection = await Connection.connect({ address: server.address });
    try {
      const { namespaceInfo } = await connection.workflowService.describeNamespace({ namespace: 'webhooks-test' });
      expect(namespaceInfo?.name).toBe('webhooks-test');
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: 'webhooks-test',
      });
      expect(Object.keys(customAttributes ?? {})).toContain('WebhookEventType');
    } finally {
      await connection.close();
    }
  } finally {
    await server.stop();
  }
  expect((await stat(dbFile)).isFile()).toBe(true);
  await expect(Connection.connect({ address: server.address, connectTimeout: '1s' })).rejects.toThrow();
});

test('refuses to start on a port another process holds, before starting anything', async () => {
  // Another program on the port. It hangs up on every connection, so that closing it waits for none.
  const squatter = createServer((socket) => socket.destroy());
  squatter.listen(0, '127.0.0.1');
  await once(squatter, 'listening');
  try {
    const port = (squatter.address() as { port: number }).port;
    await expect(
      startDevServer({
        cliPath: process.env.TEMPORAL_CLI_PATH ?? '',
        dbFile: path.join(dir, 'temporal.db'),
        port,
        uiPort: await freePort(),
        namespace: 'webhooks-test',
        searchAttributes: {},
        headless: true,
        logger: silentLogger,
      }),
    ).rejects.toThrow(DevServerStartError);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});
