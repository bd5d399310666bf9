-- A push subscription remembers the sign-in (parent token) that registered it, so signing that
-- device out also stops its notifications. Subscriptions made before this have none and stay
-- until removed or refused by the push service.
ALTER TABLE dispatch.push_subscription ADD COLUMN token_id uuid;
CREATE INDEX push_subscription_token ON dispatch.push_subscription (token_id) WHERE token_id IS NOT NULL;
