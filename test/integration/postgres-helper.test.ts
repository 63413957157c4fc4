import { Client } from 'pg';
import { findPostgresBin, startPostgres } from '../helpers/postgres';

// Global setup already insists on PostgreSQL in CI; elsewhere a missing install only skips.
const describeWithPostgres = findPostgresBin() ? describe : describe.skip;

async function selectOne(url: string): Promise<unknown> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const result = await client.query<{ one: number }>('select 1 as one');
    return result.rows;
  } finally {
    await client.end();
  }
}

describeWithPostgres('startPostgres', () => {
  it('serves queries on a loopback URL until stopped', async () => {
    const postgres = await startPostgres();
    try {
      expect(postgres.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      await expect(selectOne(postgres.url)).resolves.toEqual([{ one: 1 }]);
    } finally {
      await postgres.stop();
    }
    await expect(selectOne(postgres.url)).rejects.toThrow();
  });
});
