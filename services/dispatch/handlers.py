"""Dispatch's Kafka handlers."""
from __future__ import annotations

from pupilpost import db, tenancy
from pupilpost.runner import Service
from schemas.tenancy import SchoolCreatedV1
from services.dispatch import store


async def on_school_created(evt: SchoolCreatedV1, conn: db.Conn, svc: Service) -> None:
    """Keep the school's name and sending policy, then announce this service is provisioned."""
    await store.save_school(conn, evt.school_id, evt.name)
    await tenancy.finish_provisioning(conn, svc, evt.school_id)


def register(svc: Service) -> None:
    """Route dispatch's events to their handlers."""
    svc.handle(SchoolCreatedV1, on_school_created)
