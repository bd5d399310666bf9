"""Emitting audit.access records: every read or change of a school's data."""
from __future__ import annotations

from uuid import UUID

from pupilpost import db, telemetry
from pupilpost.auth import Principal
from pupilpost.bus import Outbox
from schemas.audit import AccessV1


def access_event(service: str, principal: Principal | None, *, school_id: UUID | None,
                 resource: str, action: str, purpose: str, outcome: str = "allowed") -> AccessV1:
    """The audit record of one access by a person (principal) or, if None, the service itself."""
    return AccessV1(
        school_id=school_id, actor_id=principal.credential_id if principal else None,
        actor_kind=principal.kind if principal else "service",
        tier=principal.tier if principal else None, service=service, resource=resource,
        action=action, purpose=purpose, outcome=outcome, trace_id=telemetry.current_trace_id())


async def record(conn: db.Conn, outbox: Outbox, service: str, principal: Principal | None, *,
                 school_id: UUID | None, resource: str, action: str, purpose: str,
                 outcome: str = "allowed") -> None:
    """Stage an audit.access event in the caller's transaction."""
    await outbox.add(conn, access_event(service, principal, school_id=school_id, resource=resource,
                                        action=action, purpose=purpose, outcome=outcome))
