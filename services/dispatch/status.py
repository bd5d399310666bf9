"""deliveries.status events: what dispatch tells the school's view about its deliveries.

Updates are grouped per school into DeliveryStatusV2 events of at most 500, so a fan-out
of thousands is a handful of events rather than one per delivery. Internal states
(`sending`, and `queued` again after a transient failure) are not reported.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from schemas.messages import MAX_UPDATES, DeliveryStatusV2, DeliveryUpdate

REPORTED = frozenset({"queued", "sent", "delivered", "failed", "bounced", "read", "cancelled"})


def events(updates: Iterable[tuple[UUID, DeliveryUpdate]]) -> list[DeliveryStatusV2]:
    """(school_id, update) pairs as events: per school, in order, at most MAX_UPDATES each."""
    by_school: dict[UUID, list[DeliveryUpdate]] = {}
    for school_id, update in updates:
        by_school.setdefault(school_id, []).append(update)
    return [DeliveryStatusV2(school_id=school_id, updates=tuple(items[i:i + MAX_UPDATES]))
            for school_id, items in by_school.items() for i in range(0, len(items), MAX_UPDATES)]


def from_rows(rows: Iterable[Any]) -> list[DeliveryStatusV2]:
    """Events for delivery rows (school_id, delivery_id, message_id, channel, state, provider_message_id,
    error_code, updated_at), skipping internal states."""
    return events((r["school_id"], DeliveryUpdate(
        delivery_id=r["delivery_id"], message_id=r["message_id"], channel=r["channel"], state=r["state"],
        at=r["updated_at"], provider_message_id=r["provider_message_id"], error_code=r["error_code"]))
        for r in rows if r["state"] in REPORTED)


def now_in(school_id: UUID, message_id: UUID, deliveries: Iterable[tuple[UUID, str]],
           state: str) -> list[DeliveryStatusV2]:
    """Events for (delivery_id, channel) pairs of one message that all took `state` just now."""
    at = datetime.now(UTC)
    return events((school_id, DeliveryUpdate(delivery_id=d, message_id=message_id, channel=ch,  # type: ignore[arg-type]
                                             state=state, at=at))  # type: ignore[arg-type]
                  for d, ch in deliveries)
