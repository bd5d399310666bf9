-- Hand-off to providers (issue 4).
--
-- A delivery is claimed ('sending', with the claiming sender instance) and that is
-- committed BEFORE the provider is called; the provider is given the delivery id as
-- its idempotency key; the outcome is committed after. A sender instance holds a
-- session advisory lock while it lives, so the deliveries of an instance that died
-- mid-hand-off (kill -9) are found and handed off again under the same key.
ALTER TABLE dispatch.delivery
  ADD COLUMN recipient_kind text NOT NULL DEFAULT 'contact' CHECK (recipient_kind IN ('contact', 'staff')),
  ADD COLUMN pupil_id uuid,            -- the pupil the message is about (case record, personalisation)
  ADD COLUMN person_key bytea,         -- blind index of the parent (their app inbox)
  ADD COLUMN claimed_by uuid,
  ADD COLUMN claimed_at timestamptz,
  ADD COLUMN sent_at timestamptz,
  ADD COLUMN read_at timestamptz,
  ADD COLUMN fallback_of uuid;         -- an SMS notice sent because this app delivery stayed unread
ALTER TABLE dispatch.delivery ADD CONSTRAINT delivery_state CHECK (
  state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'bounced', 'read', 'cancelled'));
CREATE INDEX delivery_provider_id ON dispatch.delivery (provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE INDEX delivery_sending ON dispatch.delivery (claimed_by) WHERE state = 'sending';
CREATE INDEX delivery_unread_app ON dispatch.delivery (sent_at)
  WHERE channel = 'app' AND state IN ('sent', 'delivered') AND read_at IS NULL;
CREATE INDEX delivery_inbox ON dispatch.delivery (school_id, person_key, created_at DESC) WHERE channel = 'app';
CREATE INDEX delivery_pupil ON dispatch.delivery (school_id, pupil_id, created_at DESC);

ALTER TABLE dispatch.message
  ADD COLUMN author_id uuid,
  ADD COLUMN personalised boolean NOT NULL DEFAULT false,
  ADD COLUMN schedule_at timestamptz,
  ADD COLUMN submitted_at timestamptz,
  ADD COLUMN other_pupil_named boolean;
ALTER TABLE dispatch.message DROP CONSTRAINT message_state_check;
ALTER TABLE dispatch.message ADD CONSTRAINT message_state_check
  CHECK (state IN ('waiting', 'held', 'planned', 'rejected', 'recalled', 'blocked'));

ALTER TABLE dispatch.school ADD COLUMN email_footer text;

-- Blind indexes of a contact's confirmed email and mobile: a parent signs in to the app with either.
ALTER TABLE dispatch.contact ADD COLUMN email_key bytea, ADD COLUMN mobile_key bytea;
CREATE INDEX contact_email_key ON dispatch.contact (school_id, email_key) WHERE email_key IS NOT NULL;
CREATE INDEX contact_mobile_key ON dispatch.contact (school_id, mobile_key) WHERE mobile_key IS NOT NULL;
CREATE INDEX contact_person_key ON dispatch.contact (school_id, person_key);

-- A parent's Web Push subscriptions (the endpoint is a capability URL: ciphertext only).
CREATE TABLE dispatch.push_subscription (
  subscription_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  person_key bytea NOT NULL,
  body bytea NOT NULL,                 -- ciphertext of {"endpoint", "keys": {"p256dh", "auth"}}
  endpoint_key bytea NOT NULL,         -- blind index of the endpoint: one row per device
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  UNIQUE (school_id, endpoint_key)
);
CREATE INDEX push_subscription_person ON dispatch.push_subscription (school_id, person_key);
ALTER TABLE dispatch.push_subscription ENABLE ROW LEVEL SECURITY;
ALTER TABLE dispatch.push_subscription FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON dispatch.push_subscription USING (dispatch.tenant_visible(school_id));

-- Receipts and bounces name a provider id or a delivery id, never a school; one may arrive before
-- the hand-off it reports on is committed. Kept here until it can be applied (no personal data:
-- a provider id, an outcome and a code), so this platform table has no tenant column.
CREATE TABLE dispatch.provider_report (
  report_id bigserial PRIMARY KEY,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  ref text NOT NULL,                   -- SMS: the SMSC's message id; email: the delivery id (VERP)
  outcome text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'bounced')),
  code text,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provider_report_ref ON dispatch.provider_report (channel, ref);
