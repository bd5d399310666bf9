"""Tenancy rules: school identity, the lifecycle state machine, retention dates,
and the provisioning step every service runs for a new school."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from schemas.tenancy import SchoolProvisionedV1

if TYPE_CHECKING:
    from pupilpost.db import Conn
    from pupilpost.runner import Service

PURGE_AFTER = timedelta(days=7)
TRANSACTIONAL_YEARS = 6
_URN = re.compile(r"^[1-9][0-9]{5}$")


class SchoolState(StrEnum):
    """Where a school is in its life on the platform."""

    ACTIVE = "active"
    DISABLED = "disabled"
    PURGED = "purged"


class LifecycleEvent(StrEnum):
    """What can happen to a school."""

    CANCEL = "cancel"
    REINSTATE = "reinstate"
    PURGE = "purge"


_TRANSITIONS = {
    (SchoolState.ACTIVE, LifecycleEvent.CANCEL): SchoolState.DISABLED,
    (SchoolState.DISABLED, LifecycleEvent.REINSTATE): SchoolState.ACTIVE,
    (SchoolState.DISABLED, LifecycleEvent.PURGE): SchoolState.PURGED,
}


class IllegalTransition(ValueError):
    """The lifecycle does not allow this event in this state."""


def transition(state: SchoolState, event: LifecycleEvent) -> SchoolState:
    """The next state, or IllegalTransition (a purged school never comes back)."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"cannot {event.value} a school that is {state.value}") from None


def valid_urn(urn: str) -> bool:
    """A DfE Unique Reference Number: six digits, not starting with 0."""
    return bool(_URN.match(urn))


def normalise_school_name(name: str) -> str:
    """Collapse whitespace; names are shown to parents as given otherwise."""
    return " ".join(name.split())


def purge_due(cancelled_at: datetime) -> datetime:
    """When a cancelled school's personal data must be destroyed."""
    _require_aware(cancelled_at)
    return cancelled_at + PURGE_AFTER


def transactional_expiry(recorded_at: datetime) -> datetime:
    """When a transactional (payment) record must be destroyed: six years on (29 Feb -> 28 Feb)."""
    _require_aware(recorded_at)
    year = recorded_at.year + TRANSACTIONAL_YEARS
    try:
        return recorded_at.replace(year=year)
    except ValueError:
        return recorded_at.replace(year=year, day=28)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("times must be timezone-aware")


async def finish_provisioning(conn: Conn, svc: Service, school_id: UUID) -> None:
    """Check the school's keys unwrap here, then announce this service is provisioned."""
    keyring = svc.keys()
    for family in ("personal", "transactional"):
        await keyring.family_key(conn, school_id, family)
    await svc.outbox.add(conn, SchoolProvisionedV1(school_id=school_id, service=svc.name))  # type: ignore[arg-type]
