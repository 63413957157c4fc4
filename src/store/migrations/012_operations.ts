/**
 * Bulk operations (recover, replay): one row each, which the API reads and the operation's
 * workflow writes through its activities. `cursor` is where the next batch starts (a delivery id
 * for recover; an event's created_at and id for replay). `operation_items` is the ledger of the
 * deliveries a running operation has taken into a batch, with the attempts each had then: a batch
 * retried after a crash finds there what it took and tells what was already resent, so no delivery
 * is resent twice. An operation's items are dropped when it ends.
 */
export const sql = `
CREATE TABLE operations (
  id              text PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('recover', 'replay')),
  subscription_id text NOT NULL,
  account_id      text,
  status          text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'completed', 'cancelled', 'failed')),
  filter          jsonb NOT NULL,
  matched         integer NOT NULL,
  done            integer NOT NULL DEFAULT 0,
  cursor          text,
  workflow_id     text NOT NULL,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX operations_subscription ON operations (subscription_id, id);
CREATE INDEX operations_status ON operations (status, id);

CREATE TABLE operation_items (
  operation_id    text NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  delivery_id     text NOT NULL,
  attempts_before integer NOT NULL,
  done            boolean NOT NULL DEFAULT false,
  PRIMARY KEY (operation_id, delivery_id)
);
`;
