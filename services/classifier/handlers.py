"""Classifier's Kafka handlers."""
from __future__ import annotations

from pupilpost import db, tenancy
from pupilpost.runner import Service
from schemas.tenancy import SchoolCreatedV1
from services.classifier import store


async def on_school_created(evt: SchoolCreatedV1, conn: db.Conn, svc: Service) -> None:
    """Create the school's classifier state, then announce this service is provisioned."""
    await store.save_school(conn, evt.school_id)
    await tenancy.finish_provisioning(conn, svc, evt.school_id)


def register(svc: Service) -> None:
    """Route classifier's events to their handlers."""
    svc.handle(SchoolCreatedV1, on_school_created)
