"""deliveries.status v2: updates grouped per school, in order, at most 500 to an event, nothing lost."""
from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from schemas.messages import MAX_UPDATES, DeliveryUpdate
from services.dispatch import status

SCHOOLS = [uuid4() for _ in range(3)]


def _update(state: str = "sent") -> DeliveryUpdate:
    return DeliveryUpdate(delivery_id=uuid4(), message_id=uuid4(), channel="email", state=state,  # type: ignore[arg-type]
                          at=datetime.now(UTC))


@given(st.lists(st.sampled_from(range(3)), max_size=1300))
def test_every_update_travels_once_with_its_school_in_order(schools: list[int]) -> None:
    pairs = [(SCHOOLS[i], _update()) for i in schools]
    events = status.events(pairs)
    assert all(1 <= len(e.updates) <= MAX_UPDATES for e in events)
    for school in SCHOOLS:
        sent = [u for e in events if e.school_id == school for u in e.updates]
        assert sent == [u for s, u in pairs if s == school]


def test_internal_states_are_not_reported() -> None:
    row = {"school_id": SCHOOLS[0], "delivery_id": uuid4(), "message_id": uuid4(), "channel": "sms",
           "provider_message_id": None, "error_code": None, "updated_at": datetime.now(UTC)}
    events = status.from_rows([{**row, "state": "sending"}, {**row, "state": "delivered"}])
    assert [[u.state for u in e.updates] for e in events] == [["delivered"]]
