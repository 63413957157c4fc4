import type { Queryable } from './db';
import { decodeCursor, toPage, type Page } from './pagination';

/** A key created through the API. The key itself is never stored, only its SHA-256. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  /** `admin` or `account:<accountId>`. */
  readonly scope: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  name: string;
  scope: string;
  key_hash: string;
  created_at: Date;
  revoked_at: Date | null;
}

const PUBLIC_COLUMNS = 'id, name, scope, created_at, revoked_at';

const toRecord = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  name: row.name,
  scope: row.scope,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

export class ApiKeyStore {
  constructor(private readonly db: Queryable) {}

  async create(input: { id: string; name: string; scope: string; keyHash: string }): Promise<ApiKeyRecord> {
    const rows = await this.db.query<ApiKeyRow>(
      `INSERT INTO api_keys (id, name, scope, key_hash) VALUES ($1, $2, $3, $4) RETURNING ${PUBLIC_COLUMNS}`,
      [input.id, input.name, input.scope, input.keyHash],
    );
    return toRecord(rows[0] as ApiKeyRow);
  }

  /** The key and its hash, unless it does not exist or was revoked. */
  async findActive(id: string): Promise<{ key: ApiKeyRecord; keyHash: string } | undefined> {
    const rows = await this.db.query<ApiKeyRow>(
      `SELECT ${PUBLIC_COLUMNS}, key_hash FROM api_keys WHERE id = $1 AND revoked_at IS NULL`,
      [id],
    );
    const row = rows[0];
    return row && { key: toRecord(row), keyHash: row.key_hash };
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.db.query<ApiKeyRow>(`SELECT ${PUBLIC_COLUMNS} FROM api_keys WHERE id = $1`, [id]);
    return rows[0] && toRecord(rows[0]);
  }

  async list(filter: { cursor?: string | undefined; limit: number }): Promise<Page<ApiKeyRecord>> {
    const after = decodeCursor(filter.cursor);
    const rows = await this.db.query<ApiKeyRow>(
      `SELECT ${PUBLIC_COLUMNS} FROM api_keys ${after !== undefined ? 'WHERE id > $2' : ''} ORDER BY id LIMIT $1`,
      after !== undefined ? [filter.limit + 1, after] : [filter.limit + 1],
    );
    return toPage(rows.map(toRecord), filter.limit);
  }

  /** Revokes the key (at once: every request reads this table); undefined when there is no such key. */
  async revoke(id: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.db.query<ApiKeyRow>(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${PUBLIC_COLUMNS}`,
      [id],
    );
    return rows[0] && toRecord(rows[0]);
  }
}
