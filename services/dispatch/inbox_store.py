"""Every SQL statement of the parent inbox (sign-in, tokens, inbox, push subscriptions, preferences).

All tenant tables are read inside the school's transaction (RLS); a parent's rows are
further narrowed to their person_key here, so a route cannot forget it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pupilpost.db import Conn

APP_STATES = ("sent", "delivered", "read")


async def save_locator(conn: Conn, id_: UUID, kind: Literal["login", "token"], school_id: UUID,
                       expires_at: datetime) -> None:
    """Remember which school a login or token id belongs to."""
    await conn.execute("INSERT INTO dispatch.parent_locator (id, kind, school_id, expires_at)"
                       " VALUES ($1, $2, $3, $4)", id_, kind, school_id, expires_at)


async def locate(conn: Conn, id_: UUID, kind: Literal["login", "token"]) -> UUID | None:
    """The school of an unexpired login or token id."""
    return await conn.fetchval("SELECT school_id FROM dispatch.parent_locator"
                               " WHERE id = $1 AND kind = $2 AND expires_at > now()", id_, kind)


async def find_person(conn: Conn, field: Literal["email", "mobile"], key: bytes) -> bytes | None:
    """The person_key of a contact whose confirmed email or mobile has this blind index."""
    column = {"email": "email_key", "mobile": "mobile_key"}[field]
    return await conn.fetchval(
        f"SELECT person_key FROM dispatch.contact WHERE {column} = $1 AND person_key IS NOT NULL"
        " ORDER BY priority, contact_id LIMIT 1", key)


async def recent_logins(conn: Conn, school_id: UUID, person_key: bytes, since: datetime) -> int:
    """How many codes were sent to this person since `since`."""
    return await conn.fetchval(
        "SELECT count(*) FROM dispatch.parent_login WHERE school_id = $1 AND person_key = $2"
        " AND created_at >= $3", school_id, person_key, since)


async def prune(conn: Conn, school_id: UUID, person_key: bytes) -> None:
    """Forget this person's day-old logins and dead tokens, and a batch of expired locators."""
    await conn.execute("DELETE FROM dispatch.parent_login WHERE school_id = $1 AND person_key = $2"
                       " AND created_at < now() - interval '1 day'", school_id, person_key)
    await conn.execute("DELETE FROM dispatch.parent_token WHERE school_id = $1 AND person_key = $2"
                       " AND least(expires_at, coalesce(revoked_at, 'infinity')) < now() - interval '1 day'",
                       school_id, person_key)
    await conn.execute("DELETE FROM dispatch.parent_locator WHERE id IN (SELECT id FROM dispatch.parent_locator"
                       " WHERE expires_at < now() LIMIT 100)")


async def save_login(conn: Conn, login_id: UUID, school_id: UUID, person_key: bytes, channel: str,
                     code_hash: bytes, expires_at: datetime) -> None:
    """Record a sign-in attempt awaiting its code."""
    await conn.execute(
        "INSERT INTO dispatch.parent_login (login_id, school_id, person_key, channel, code_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)", login_id, school_id, person_key, channel, code_hash, expires_at)


async def load_login(conn: Conn, login_id: UUID) -> dict[str, Any] | None:
    """A sign-in attempt, locked for the check."""
    row = await conn.fetchrow(
        "SELECT login_id, school_id, person_key, code_hash, attempts, expires_at, used_at"
        " FROM dispatch.parent_login WHERE login_id = $1 FOR UPDATE", login_id)
    return dict(row) if row else None


async def count_wrong_code(conn: Conn, login_id: UUID) -> None:
    """One more wrong code for this login."""
    await conn.execute("UPDATE dispatch.parent_login SET attempts = attempts + 1 WHERE login_id = $1", login_id)


async def finish_login(conn: Conn, login_id: UUID) -> None:
    """A code works once."""
    await conn.execute("UPDATE dispatch.parent_login SET used_at = now() WHERE login_id = $1", login_id)


async def save_token(conn: Conn, token_id: UUID, school_id: UUID, person_key: bytes, secret_hash: bytes,
                     expires_at: datetime) -> None:
    """Keep a parent token's hash."""
    await conn.execute(
        "INSERT INTO dispatch.parent_token (token_id, school_id, person_key, secret_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)", token_id, school_id, person_key, secret_hash, expires_at)


async def load_token(conn: Conn, token_id: UUID) -> dict[str, Any] | None:
    """A parent token's row."""
    row = await conn.fetchrow("SELECT person_key, secret_hash, expires_at, revoked_at FROM dispatch.parent_token"
                              " WHERE token_id = $1", token_id)
    return dict(row) if row else None


async def revoke_token(conn: Conn, token_id: UUID) -> list[UUID]:
    """Sign a device out: its token stops working and the push subscriptions it registered are
    forgotten; returns their ids."""
    await conn.execute("UPDATE dispatch.parent_token SET revoked_at = now() WHERE token_id = $1"
                       " AND revoked_at IS NULL", token_id)
    await conn.execute("DELETE FROM dispatch.parent_locator WHERE id = $1 AND kind = 'token'", token_id)
    rows = await conn.fetch("DELETE FROM dispatch.push_subscription WHERE token_id = $1 RETURNING subscription_id",
                            token_id)
    return [r["subscription_id"] for r in rows]


async def mark_has_app(conn: Conn, school_id: UUID, person_key: bytes) -> list[UUID]:
    """Every contact of this person now has the app; returns their contact ids."""
    rows = await conn.fetch(
        "INSERT INTO dispatch.preference (contact_id, school_id, has_app)"
        " SELECT contact_id, school_id, true FROM dispatch.contact WHERE school_id = $1 AND person_key = $2"
        " ON CONFLICT (contact_id) DO UPDATE SET has_app = true, updated_at = now() RETURNING contact_id",
        school_id, person_key)
    return [r["contact_id"] for r in rows]


_ITEM = (
    "SELECT d.delivery_id, d.message_id, d.pupil_id, d.state, d.urgent, d.read_at,"
    " coalesce(d.sent_at, d.created_at) AS at, m.content, m.personalised, m.state AS message_state"
    " FROM dispatch.delivery d JOIN dispatch.message m ON m.message_id = d.message_id"
    " WHERE d.school_id = $1 AND d.person_key = $2 AND d.channel = 'app' AND d.state = ANY($3::text[])")


async def inbox_page(conn: Conn, school_id: UUID, person_key: bytes, before: tuple[datetime, UUID] | None,
                     limit: int) -> list[dict[str, Any]]:
    """A parent's app deliveries newest first, strictly older than `before` if given."""
    at, delivery_id = before or (None, None)
    rows = await conn.fetch(
        _ITEM + " AND ($4::timestamptz IS NULL OR (coalesce(d.sent_at, d.created_at), d.delivery_id) < ($4, $5))"
        " ORDER BY coalesce(d.sent_at, d.created_at) DESC, d.delivery_id DESC LIMIT $6",
        school_id, person_key, list(APP_STATES), at, delivery_id, limit)
    return [dict(r) for r in rows]


async def inbox_item(conn: Conn, school_id: UUID, person_key: bytes, delivery_id: UUID) -> dict[str, Any] | None:
    """One of a parent's app deliveries, locked (it may be marked read)."""
    row = await conn.fetchrow(_ITEM + " AND d.delivery_id = $4 FOR UPDATE OF d",
                              school_id, person_key, list(APP_STATES), delivery_id)
    return dict(row) if row else None


async def mark_read(conn: Conn, delivery_id: UUID, state: str) -> None:
    """The read receipt: the new state and when."""
    await conn.execute("UPDATE dispatch.delivery SET state = $2, read_at = coalesce(read_at, now()),"
                       " updated_at = now() WHERE delivery_id = $1", delivery_id, state)


async def save_subscription(conn: Conn, subscription_id: UUID, school_id: UUID, person_key: bytes, body: bytes,
                            endpoint_key: bytes, token_id: UUID) -> UUID:
    """Keep a device's push subscription, registered under sign-in `token_id` (one row per
    endpoint: a re-subscribe replaces it)."""
    return await conn.fetchval(
        "INSERT INTO dispatch.push_subscription (subscription_id, school_id, person_key, body, endpoint_key, token_id)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (school_id, endpoint_key) DO UPDATE"
        " SET person_key = EXCLUDED.person_key, body = EXCLUDED.body, token_id = EXCLUDED.token_id"
        " RETURNING subscription_id",
        subscription_id, school_id, person_key, body, endpoint_key, token_id)


async def delete_subscription(conn: Conn, subscription_id: UUID, person_key: bytes) -> bool:
    """Forget one of this person's push subscriptions."""
    return await conn.fetchval(
        "WITH gone AS (DELETE FROM dispatch.push_subscription WHERE subscription_id = $1 AND person_key = $2"
        " RETURNING 1) SELECT count(*) > 0 FROM gone", subscription_id, person_key)


async def preferences(conn: Conn, school_id: UUID, person_key: bytes) -> list[dict[str, Any]]:
    """Each of this person's contacts with its preferences, the most recently changed first."""
    rows = await conn.fetch(
        "SELECT c.contact_id, coalesce(p.channels, '{}') AS channels,"
        " coalesce(p.marketing_consent, false) AS marketing_consent, p.consent_recorded_at"
        " FROM dispatch.contact c LEFT JOIN dispatch.preference p ON p.contact_id = c.contact_id"
        " WHERE c.school_id = $1 AND c.person_key = $2 ORDER BY p.updated_at DESC NULLS LAST, c.contact_id",
        school_id, person_key)
    return [dict(r) for r in rows]


async def save_preferences(conn: Conn, school_id: UUID, person_key: bytes, channels: list[str],
                           consent: bool) -> list[dict[str, Any]]:
    """Apply channels and consent to every contact of this person; returns each contact's old values.

    Consent changes (given or withdrawn) stamp consent_recorded_at; one person's updates are serialised.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('dispatch.preference:' || $1, 0))",
                       person_key.hex())
    old = await preferences(conn, school_id, person_key)
    await conn.execute(
        "INSERT INTO dispatch.preference (contact_id, school_id, channels, marketing_consent, consent_recorded_at)"
        " SELECT c, $1, $2::text[], $3, CASE WHEN o <> $3 THEN now() END"
        " FROM unnest($4::uuid[], $5::bool[]) AS t(c, o)"
        " ON CONFLICT (contact_id) DO UPDATE SET channels = EXCLUDED.channels,"
        " marketing_consent = EXCLUDED.marketing_consent,"
        " consent_recorded_at = coalesce(EXCLUDED.consent_recorded_at, dispatch.preference.consent_recorded_at),"
        " updated_at = now()",
        school_id, channels, consent, [o["contact_id"] for o in old], [o["marketing_consent"] for o in old])
    return old
