"""Classifier's Kafka handlers."""
from __future__ import annotations

import asyncio
import base64
import functools
import json
from typing import Any
from uuid import UUID

from pupilpost import access, db, tenancy
from pupilpost.crypto import KeyUnavailable
from pupilpost.runner import Service
from schemas.directory import DirectoryChange, DirectoryChangesV1
from schemas.messages import Evidence, MessageClassifiedV1, MessageSubmittedV1
from schemas.tenancy import SchoolCreatedV1
from services.classifier import store
from services.classifier.classify import Classification, classify, mark_up
from services.classifier.personalise import Pupil, audience_pupils, classify_renderings
from services.classifier.rosters import RosterCache, SchoolRoster

VERSION = "rules-1"


async def on_school_created(evt: SchoolCreatedV1, conn: db.Conn, svc: Service) -> None:
    """Create the school's classifier state, then announce this service is provisioned."""
    await store.save_school(conn, evt.school_id)
    await tenancy.finish_provisioning(conn, svc, evt.school_id)


async def on_directory_changes(evt: DirectoryChangesV1, conn: db.Conn, svc: Service, rosters: RosterCache) -> None:
    """Apply one part of an upload's pupil changes to the roster projection; once the upload's last
    part is in, classify the personalised messages that were waiting for it."""
    changes = [c for c in evt.changes if c.kind == "pupil"]
    await store.remove_pupils(conn, [c.record_id for c in changes if c.op == "remove"])
    await store.upsert_pupils(conn, [await _pupil_row(conn, svc, evt.school_id, c)
                                     for c in changes if c.op == "upsert"])
    await store.track_roster(conn, evt.school_id, evt.upload_id, evt.part, evt.parts, pupils_changed=bool(changes))
    if evt.part == evt.parts:
        for parked in await store.parked(conn, evt.school_id):
            await _classify_or_park(MessageSubmittedV1.model_validate(parked), conn, svc, rosters)


async def _pupil_row(conn: db.Conn, svc: Service, school_id: UUID, change: DirectoryChange) -> tuple:
    blob = base64.b64decode(change.body or "")
    state: dict[str, Any] = json.loads(await svc.keys().decrypt(conn, school_id, "directory.pupil", blob))
    return (change.record_id, school_id, state["year_group"], state.get("reg_group"), blob)


async def on_submitted(evt: MessageSubmittedV1, conn: db.Conn, svc: Service, rosters: RosterCache) -> None:
    """Classify a message (each family's rendering if it is personalised), apply the school's mark-up."""
    await _classify_or_park(evt, conn, svc, rosters)


async def _classify_or_park(evt: MessageSubmittedV1, conn: db.Conn, svc: Service, rosters: RosterCache) -> None:
    """A personalised message waits (parked) while its school's roster is missing, mid-upload or
    has none of its pupils: it is never released unchecked."""
    school, pupils = None, []
    if evt.personalised:
        school = await rosters.get(conn, svc.keys(), evt.school_id)
        pupils = audience_pupils(school.pupils, evt.audience) if school.settled else []
        if not pupils:
            await store.park(conn, evt.school_id, evt.message_id, evt.model_dump(mode="json"))
            return
    try:
        blob = await svc.keys().decrypt(conn, evt.school_id, "message.content", base64.b64decode(evt.content))
    except KeyUnavailable:
        await store.unpark(conn, evt.message_id)
        return  # recalled (or the school shredded) before it was classified: nothing to classify or send
    content = json.loads(blob)
    result = (await _classify_renderings(evt, conn, svc, content, school, pupils) if school is not None
              else classify(content["subject"], content["body"]))
    await _publish(evt, conn, svc, mark_up(result, evt.marked_level) if evt.marked_level else result)
    if evt.personalised:
        await store.unpark(conn, evt.message_id)


async def _classify_renderings(evt: MessageSubmittedV1, conn: db.Conn, svc: Service, content: dict[str, str],
                               school: SchoolRoster, pupils: list[Pupil]) -> Classification:
    await access.record(conn, svc.outbox, svc.name, None, school_id=evt.school_id,
                        resource=f"messages/{evt.message_id}/audience", action="read",
                        purpose=f"check each family's rendering against the roster: {len(pupils)} pupils")
    # Hundreds of renderings are CPU work: off the event loop, so heartbeats and other work go on.
    return await asyncio.to_thread(classify_renderings, content["subject"], content["body"], pupils,
                                   school.matcher)


async def _publish(evt: MessageSubmittedV1, conn: db.Conn, svc: Service, result: Classification) -> None:
    await svc.outbox.add(conn, MessageClassifiedV1(
        school_id=evt.school_id, message_id=evt.message_id, level=str(result.level),  # type: ignore[arg-type]
        categories=tuple(sorted(str(c) for c in result.categories)), pii=result.pii,  # type: ignore[arg-type]
        personal=result.personal, other_pupil_named=result.other_pupil_named,
        evidence=tuple(Evidence(kind=e.kind, label=e.label, start=e.start, end=e.end) for e in result.evidence),
        classifier_version=VERSION, urgent=evt.urgent))
    await access.record(conn, svc.outbox, svc.name, None, school_id=evt.school_id,
                        resource=f"messages/{evt.message_id}", action="read", purpose="classify message")


def register(svc: Service) -> None:
    """Route classifier's events to their handlers (one roster cache shared by them)."""
    rosters = RosterCache(ttl=svc.platform.key_cache_seconds)
    svc.handle(SchoolCreatedV1, on_school_created)
    svc.handle(DirectoryChangesV1, functools.partial(on_directory_changes, rosters=rosters))
    svc.handle(MessageSubmittedV1, functools.partial(on_submitted, rosters=rosters))
