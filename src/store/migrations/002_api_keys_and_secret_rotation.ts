/** Managed API keys with scopes, and the previous signing secret kept during a rotation's grace period. */
export const sql = `
-- Keys created through the API. Only a SHA-256 of each key is kept: keys are 256-bit random
-- strings, so a fast hash is as safe as a slow one and costs microseconds per request.
CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  name        text NOT NULL DEFAULT '',
  -- 'admin' or 'account:<accountId>'
  scope       text NOT NULL,
  key_hash    text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- While previous_secret_expires_at is in the future, deliveries are signed with both secrets.
ALTER TABLE subscriptions ADD COLUMN previous_secret text;
ALTER TABLE subscriptions ADD COLUMN previous_secret_expires_at timestamptz;
`;
