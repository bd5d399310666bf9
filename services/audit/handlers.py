"""Audit's Kafka handlers: append every access to its school's hash chain."""
from __future__ import annotations

from pupilpost import db, telemetry, tenancy
from pupilpost.runner import Service
from schemas.audit import AccessV1
from schemas.tenancy import SchoolCreatedV1
from services.audit import logic, store


async def on_access(evt: AccessV1, conn: db.Conn, svc: Service) -> None:
    """Append the record after the chain's head (serialised per chain by a row lock)."""
    with telemetry.tracer.start_as_current_span("audit append") as span:
        chain = logic.chain_of(evt.school_id)
        seq, prev = await store.lock_head(conn, chain)
        fields = logic.record_fields(evt, seq + 1)
        await store.append(conn, fields, prev, logic.record_hash(prev, fields))
        span.set_attribute("pupilpost.audit.seq", seq + 1)


async def on_school_created(evt: SchoolCreatedV1, conn: db.Conn, svc: Service) -> None:
    """Open the school's chain at genesis, then announce this service is provisioned."""
    await store.lock_head(conn, evt.school_id)
    await tenancy.finish_provisioning(conn, svc, evt.school_id)


def register(svc: Service) -> None:
    """Route audit's events to their handlers."""
    svc.handle(AccessV1, on_access)
    svc.handle(SchoolCreatedV1, on_school_created)
