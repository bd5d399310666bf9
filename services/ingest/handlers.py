"""Ingest's Kafka handlers: provisioning its own per-school state and tracking everyone's."""
from __future__ import annotations

import os
from pathlib import Path

from pupilpost import auth, db, tenancy
from pupilpost.runner import Service
from schemas.messages import DeliveryStatusV1, DeliveryStatusV2, MessageClassifiedV1
from schemas.tenancy import SchoolCreatedV1, SchoolProvisionedV1
from services.ingest import messages_store, store


async def on_school_created(evt: SchoolCreatedV1, conn: db.Conn, svc: Service) -> None:
    """Ingest's own school row was written with the school; announce it is provisioned."""
    await tenancy.finish_provisioning(conn, svc, evt.school_id)


async def on_school_provisioned(evt: SchoolProvisionedV1, conn: db.Conn, svc: Service) -> None:
    """Remember which services have provisioned the school."""
    await store.mark_provisioned(conn, evt.school_id, evt.service, evt.occurred_at)


async def on_classified(evt: MessageClassifiedV1, conn: db.Conn, svc: Service) -> None:
    """Store the classification and move the message on: blocked if a family's rendering names another
    family's child (never sent), else waiting for a second person or released."""
    msg = await messages_store.load_message(conn, evt.message_id)
    if msg is None:
        return
    await messages_store.save_classification(conn, evt, next_state(evt, msg["requires_approval"]))


def next_state(evt: MessageClassifiedV1, requires_approval: bool) -> str:
    """Where a classified message goes next."""
    if evt.other_pupil_named:
        return "blocked"
    if requires_approval and evt.level == "official-sensitive":
        return "awaiting_approval"
    return "released"


async def on_delivery_status(evt: DeliveryStatusV1, conn: db.Conn, svc: Service) -> None:
    """Keep the school's view of each delivery current."""
    await messages_store.save_delivery(conn, evt)


async def on_delivery_statuses(evt: DeliveryStatusV2, conn: db.Conn, svc: Service) -> None:
    """Keep the school's view of a batch of deliveries current."""
    await messages_store.save_deliveries(conn, evt.school_id, evt.updates)


def register(svc: Service) -> None:
    """Route ingest's events to their handlers."""
    svc.handle(SchoolCreatedV1, on_school_created)
    svc.handle(SchoolProvisionedV1, on_school_provisioned)
    svc.handle(MessageClassifiedV1, on_classified)
    svc.handle(DeliveryStatusV1, on_delivery_status)
    svc.handle(DeliveryStatusV2, on_delivery_statuses)


async def bootstrap_operator(svc: Service, path: Path) -> None:
    """Development only: issue an administrator credential once and write it to `path` (0600)."""
    if path.exists() and path.read_text().strip():
        return
    token, issued = auth.new_credential("operator", tier="administrator", permissions=(auth.PAYMENTS,),
                                        label="development administrator")
    async with db.operator_tx(svc.db()) as conn:
        await auth.save_credential(conn, svc.schema, issued)
        await svc.outbox.add(conn, issued)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    tmp.replace(path)
