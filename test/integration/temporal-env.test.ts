import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from '../../devtools/temporal-dev-server';
import { SEARCH_ATTRIBUTE_KEYS } from '../../core/search-attributes';
import { createTestTemporal, createTimeSkippingTemporal } from '../helpers/temporal-env';
import { freePort } from '../helpers/ports';

const silentLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function withEnvironment(
  create: () => Promise<TestWorkflowEnvironment>,
  use: (env: TestWorkflowEnvironment) => Promise<void>,
): Promise<void> {
  const env = await create();
  try {
    await use(env);
  } finally {
    await env.teardown();
  }
}

describe('Temporal test environments', () => {
  it('createTestTemporal starts a dev server with our search attributes', async () => {
    await withEnvironment(createTestTemporal, async (env) => {
      const { customAttributes } = await env.connection.operatorService.listSearchAttributes({
        namespace: env.namespace ?? 'default',
      });
      expect(Object.keys(customAttributes ?? {})).toEqual(
        expect.arrayContaining(SEARCH_ATTRIBUTE_KEYS.map((key) => key.name)),
      );
    });
  });

  it('createTimeSkippingTemporal starts the time-skipping server', async () => {
    await withEnvironment(createTimeSkippingTemporal, async (env) => {
      expect(env.supportsTimeSkipping).toBe(true);
      const before = await env.currentTimeMs();
      await env.sleep('1 day');
      expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(24 * 60 * 60 * 1000);
    });
  });
});

describe('startDevServer', () => {
  it('starts headless on a temp SQLite file, answers gRPC, and stops', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-devserver-'));
    try {
      const server = await startDevServer({
        cliPath: process.env.TEMPORAL_CLI_PATH ?? '',
        dbFile: path.join(dir, 'nested', 'temporal.db'),
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
        } finally {
          await connection.close();
        }
      } finally {
        await server.stop();
      }
      await expect(Connection.connect({ address: server.address, connectTimeout: '1s' })).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
