/** The tables of the store of record. */
export const sql = `
CREATE TABLE event_types (
  id          text PRIMARY KEY,
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
  id           text PRIMARY KEY,
  url          text NOT NULL,
  event_types  text[] NOT NULL,
  account_id   text,
  active       boolean NOT NULL DEFAULT true,
  description  text NOT NULL DEFAULT '',
  headers      jsonb NOT NULL DEFAULT '{}',
  secret       text NOT NULL,
  retry_policy jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_event_types ON subscriptions USING gin (event_types);
CREATE INDEX subscriptions_account ON subscriptions (account_id);

-- An event is the outbox of its deliveries: dispatched_at stays null until every delivery
-- workflow has been started, and a relay retries those whose claim has lapsed.
CREATE TABLE events (
  id                text PRIMARY KEY,
  type              text NOT NULL,
  account_id        text,
  data              jsonb NOT NULL,
  callback_url      text,
  callback_secret   text,
  fingerprint       text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  dispatched_at     timestamptz,
  dispatch_claimed_until timestamptz
);
CREATE INDEX events_undispatched ON events (created_at) WHERE dispatched_at IS NULL;

CREATE TABLE deliveries (
  id              text PRIMARY KEY,
  event_id        text NOT NULL REFERENCES events (id),
  event_type      text NOT NULL,
  subscription_id text,
  account_id      text,
  url             text NOT NULL,
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
  attempt_count   integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  workflow_id     text NOT NULL UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, id);
CREATE INDEX deliveries_status ON deliveries (status, id);

CREATE TABLE attempts (
  delivery_id   text NOT NULL REFERENCES deliveries (id),
  attempt       integer NOT NULL,
  started_at    timestamptz NOT NULL,
  duration_ms   integer NOT NULL,
  status_code   integer,
  error         text,
  response_body text,
  PRIMARY KEY (delivery_id, attempt)
);
`;
