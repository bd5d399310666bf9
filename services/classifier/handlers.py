"""Classifier's Kafka handlers."""
from __future__ import annotations

import base64
import json

from pupilpost import access, db, tenancy
from pupilpost.crypto import KeyUnavailable
from pupilpost.runner import Service
from schemas.messages import Evidence, MessageClassifiedV1, MessageSubmittedV1
from schemas.tenancy import SchoolCreatedV1
from services.classifier import store
from services.classifier.classify import classify, mark_up

VERSION = "rules-1"


async def on_school_created(evt: SchoolCreatedV1, conn: db.Conn, svc: Service) -> None:
    """Create the school's classifier state, then announce this service is provisioned."""
    await store.save_school(conn, evt.school_id)
    await tenancy.finish_provisioning(conn, svc, evt.school_id)


async def on_submitted(evt: MessageSubmittedV1, conn: db.Conn, svc: Service) -> None:
    """Decrypt the message under its own key, classify it, apply the school's mark-up."""
    keys = svc.keys()
    try:
        blob = await keys.decrypt(conn, evt.school_id, "message.content", base64.b64decode(evt.content))
    except KeyUnavailable:
        return  # recalled before it was classified: its key is gone, there is nothing to classify
    content = json.loads(blob)
    result = classify(content["subject"], content["body"])
    if evt.marked_level:
        result = mark_up(result, evt.marked_level)
    await svc.outbox.add(conn, MessageClassifiedV1(
        school_id=evt.school_id, message_id=evt.message_id, level=str(result.level),  # type: ignore[arg-type]
        categories=tuple(sorted(str(c) for c in result.categories)), pii=result.pii,  # type: ignore[arg-type]
        personal=result.personal, other_pupil_named=result.other_pupil_named,
        evidence=tuple(Evidence(kind=e.kind, label=e.label, start=e.start, end=e.end) for e in result.evidence),
        classifier_version=VERSION))
    await access.record(conn, svc.outbox, svc.name, None, school_id=evt.school_id,
                        resource=f"messages/{evt.message_id}", action="read", purpose="classify message")


def register(svc: Service) -> None:
    """Route classifier's events to their handlers."""
    svc.handle(SchoolCreatedV1, on_school_created)
    svc.handle(MessageSubmittedV1, on_submitted)
