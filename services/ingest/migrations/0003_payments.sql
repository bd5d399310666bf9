-- The payments ledger: transactional records, kept six years after the payment
-- (DESIGN: Retention), then destroyed. Amounts are integer pence and always
-- positive: `kind` says the direction. What was bought and who paid are
-- ciphertext under the school's transactional key, never plaintext.
CREATE TABLE ingest.payment (
  payment_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  order_number text NOT NULL CHECK (length(order_number) BETWEEN 1 AND 64),
  kind text NOT NULL CHECK (kind IN ('sale', 'refund')),
  amount_pence bigint NOT NULL CHECK (amount_pence > 0),
  currency text NOT NULL DEFAULT 'GBP' CHECK (currency = 'GBP'),
  method text NOT NULL CHECK (method ~ '^[a-z][a-z0-9_]{0,31}$'),
  item_enc bytea NOT NULL,       -- field "payment.item", transactional key
  purchaser_enc bytea NOT NULL,  -- field "payment.purchaser": an opaque id from the school's payment system
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  retain_until timestamptz NOT NULL,
  -- Never shorter than six years (computed on UTC calendar dates, 29 Feb -> 28 Feb).
  CHECK (retain_until >= ((occurred_at AT TIME ZONE 'UTC') + interval '6 years') AT TIME ZONE 'UTC'),
  UNIQUE (school_id, order_number, kind)
);
CREATE INDEX payment_by_time ON ingest.payment (school_id, occurred_at, payment_id);
CREATE INDEX payment_expiry ON ingest.payment (retain_until);

ALTER TABLE ingest.payment ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest.payment FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ingest.payment USING (ingest.tenant_visible(school_id));

-- A ledger is corrected by a refund, never by editing a row; rows leave only by retention.
REVOKE UPDATE, TRUNCATE ON ingest.payment FROM __APP_ROLE__;
