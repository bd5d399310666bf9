"""Every SQL statement of ingest's messages, approvals and delivery projection."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from pupilpost.db import Conn
from schemas.messages import Audience, DeliveryStatusV1, DeliveryUpdate, MessageClassifiedV1, MessageSubmittedV1


async def require_approval(conn: Conn, school_id: UUID) -> bool:
    """The school's four-eyes setting for official-sensitive messages."""
    return bool(await conn.fetchval("SELECT require_approval FROM ingest.school_setting WHERE school_id = $1",
                                    school_id))


async def save_setting(conn: Conn, school_id: UUID, require: bool) -> None:
    """Set the four-eyes setting."""
    await conn.execute(
        "INSERT INTO ingest.school_setting (school_id, require_approval) VALUES ($1, $2)"
        " ON CONFLICT (school_id) DO UPDATE SET require_approval = $2, updated_at = now()", school_id, require)


async def audience_has_pupils(conn: Conn, audience: Audience) -> bool:
    """Whether any pupil of the school's directory is in the audience."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ingest.pupil WHERE $1 OR year_group = ANY($2::text[])"
        " OR reg_group = ANY($3::text[]) OR pupil_id = ANY($4::uuid[]))",
        audience.whole_school, list(audience.year_groups), list(audience.reg_groups), list(audience.pupil_ids)))


async def save_message(conn: Conn, evt: MessageSubmittedV1) -> None:
    """Record a submitted message (its content lives only in the event, as ciphertext)."""
    await conn.execute(
        "INSERT INTO ingest.message (message_id, school_id, author_id, kind, urgent, personalised, audience,"
        " schedule_at, marked_level, requires_approval, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " 'classifying')", evt.message_id, evt.school_id, evt.author_id, evt.kind, evt.urgent, evt.personalised,
        evt.audience.model_dump(mode="json"), evt.schedule_at, evt.marked_level, evt.requires_approval)


async def save_classification(conn: Conn, evt: MessageClassifiedV1, state: str) -> None:
    """Store the classifier's decision and move the message on (unless recalled meanwhile)."""
    await conn.execute(
        "UPDATE ingest.message SET level = $2, categories = $3, pii = $4, personal = $5, other_pupil_named = $6,"
        " evidence = $7, classified_at = $8, state = CASE WHEN state = 'classifying' THEN $9 ELSE state END"
        " WHERE message_id = $1", evt.message_id, evt.level, list(evt.categories), list(evt.pii), evt.personal,
        evt.other_pupil_named, [e.model_dump() for e in evt.evidence], evt.occurred_at, state)


async def load_message(conn: Conn, message_id: UUID) -> dict[str, Any] | None:
    """A message's state, classification and approval."""
    row = await conn.fetchrow("SELECT * FROM ingest.message WHERE message_id = $1", message_id)
    return dict(row) if row else None


async def decide(conn: Conn, message_id: UUID, approver: UUID, state: str) -> bool:
    """Approve or reject a message awaiting approval; False if it was not awaiting."""
    row = await conn.fetchrow(
        "UPDATE ingest.message SET state = $3, approver_id = $2, decided_at = now()"
        " WHERE message_id = $1 AND state = 'awaiting_approval' RETURNING 1", message_id, approver, state)
    return row is not None


async def recall(conn: Conn, message_id: UUID, by: UUID) -> bool:
    """Mark a message recalled; False if it already was."""
    row = await conn.fetchrow(
        "UPDATE ingest.message SET state = 'recalled', recalled_by = $2, recalled_at = now()"
        " WHERE message_id = $1 AND state <> 'recalled' RETURNING 1", message_id, by)
    return row is not None


async def save_delivery(conn: Conn, evt: DeliveryStatusV1) -> None:
    """Project a delivery's latest state (older reports never overwrite newer ones)."""
    await conn.execute(
        "INSERT INTO ingest.message_delivery (delivery_id, school_id, message_id, channel, state,"
        " provider_message_id, error_code, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (delivery_id) DO UPDATE SET state = EXCLUDED.state,"
        " provider_message_id = coalesce(EXCLUDED.provider_message_id, ingest.message_delivery.provider_message_id),"
        " error_code = EXCLUDED.error_code, updated_at = EXCLUDED.updated_at"
        " WHERE ingest.message_delivery.updated_at <= EXCLUDED.updated_at",
        evt.delivery_id, evt.school_id, evt.message_id, evt.channel, evt.state, evt.provider_message_id,
        evt.error_code, evt.occurred_at)


async def save_deliveries(conn: Conn, school_id: UUID, updates: Sequence[DeliveryUpdate]) -> None:
    """Project a batch of deliveries' states (per delivery the latest report wins, whatever the order)."""
    latest: dict[UUID, DeliveryUpdate] = {}
    for u in updates:
        if u.delivery_id not in latest or latest[u.delivery_id].at <= u.at:
            latest[u.delivery_id] = u
    rows = list(latest.values())
    await conn.execute(
        "INSERT INTO ingest.message_delivery (delivery_id, school_id, message_id, channel, state,"
        " provider_message_id, error_code, updated_at)"
        " SELECT d, $1, m, c, s, p, e, t FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],"
        " $7::text[], $8::timestamptz[]) AS x(d, m, c, s, p, e, t)"
        " ON CONFLICT (delivery_id) DO UPDATE SET state = EXCLUDED.state,"
        " provider_message_id = coalesce(EXCLUDED.provider_message_id, ingest.message_delivery.provider_message_id),"
        " error_code = EXCLUDED.error_code, updated_at = EXCLUDED.updated_at"
        " WHERE ingest.message_delivery.updated_at <= EXCLUDED.updated_at",
        school_id, [u.delivery_id for u in rows], [u.message_id for u in rows], [u.channel for u in rows],
        [u.state for u in rows], [u.provider_message_id for u in rows], [u.error_code for u in rows],
        [u.at for u in rows])


async def delivery_counts(conn: Conn, message_id: UUID) -> dict[str, dict[str, int]]:
    """Deliveries by channel and state."""
    out: dict[str, dict[str, int]] = {}
    for r in await conn.fetch("SELECT channel, state, count(*) AS n FROM ingest.message_delivery"
                              " WHERE message_id = $1 GROUP BY channel, state", message_id):
        out.setdefault(r["channel"], {})[r["state"]] = r["n"]
    return out


async def deliveries(conn: Conn, message_id: UUID, after: UUID | None, limit: int) -> list[dict[str, Any]]:
    """A message's deliveries, keyset-paginated."""
    rows = await conn.fetch(
        "SELECT delivery_id, channel, state, provider_message_id, error_code, updated_at"
        " FROM ingest.message_delivery WHERE message_id = $1 AND ($2::uuid IS NULL OR delivery_id > $2)"
        " ORDER BY delivery_id LIMIT $3", message_id, after, limit)
    return [dict(r) for r in rows]


