"""Dispatch's Kafka handlers: the directory projection and planning each message's deliveries."""
from __future__ import annotations

import base64
import json
from typing import Any
from uuid import UUID, uuid4

from pupilpost import access, db, tenancy
from pupilpost.runner import Service
from schemas.directory import DirectoryChange, DirectoryChangesV1
from schemas.messages import (
    MessageApprovalV1, MessageClassifiedV1, MessageRecalledV1, MessageSubmittedV1,
)
from schemas.tenancy import SchoolCreatedV1
from services.dispatch import logic, status, store


async def on_school_created(evt: SchoolCreatedV1, conn: db.Conn, svc: Service) -> None:
    """Keep the school's name and sending policy, then announce this service is provisioned."""
    await store.save_school(conn, evt.school_id, evt.name)
    await tenancy.finish_provisioning(conn, svc, evt.school_id)


async def on_directory_changes(evt: DirectoryChangesV1, conn: db.Conn, svc: Service) -> None:
    """Apply one part of an upload's changes to dispatch's own projection."""
    rows: dict[str, list[tuple]] = {"pupil": [], "contact": [], "staff": []}
    removed: dict[str, list[UUID]] = {"pupil": [], "contact": [], "staff": []}
    for change in evt.changes:
        if change.op == "remove":
            removed[change.kind].append(change.record_id)
        else:
            rows[change.kind].append(await _row(conn, svc, evt.school_id, change))
    for kind in ("contact", "staff", "pupil"):
        if removed[kind]:
            await store.remove(conn, kind, removed[kind])
    await store.upsert_pupils(conn, rows["pupil"])
    await store.upsert_contacts(conn, rows["contact"])
    await store.upsert_staff(conn, rows["staff"])


async def _row(conn: db.Conn, svc: Service, school_id: UUID, change: DirectoryChange) -> tuple:
    blob = base64.b64decode(change.body or "")
    state: dict[str, Any] = json.loads(await svc.keys().decrypt(conn, school_id, f"directory.{change.kind}", blob))
    if change.kind == "pupil":
        return (change.record_id, school_id, state["year_group"], state.get("reg_group"), blob)
    if change.kind == "staff":
        return (change.record_id, school_id, blob)
    email, mobile = state.get("email"), state.get("mobile")
    email_key = await svc.keys().index(conn, school_id, "email", email.lower()) if email else None
    mobile_key = await svc.keys().index(conn, school_id, "mobile", mobile) if mobile else None
    return (change.record_id, school_id, change.pupil_id, state["priority"], state["parental_responsibility"],
            email_key or mobile_key, bool(email), bool(mobile), blob, email_key, mobile_key)


async def on_submitted(evt: MessageSubmittedV1, conn: db.Conn, svc: Service) -> None:
    """Keep the sealed content and audience; plan once the classification is here too."""
    msg = await store.merge_message(
        conn, evt.message_id, evt.school_id, kind=evt.kind, urgent=evt.urgent,
        audience=evt.audience.model_dump(mode="json"), requires_approval=evt.requires_approval,
        content=base64.b64decode(evt.content), author_id=evt.author_id, personalised=evt.personalised,
        schedule_at=evt.schedule_at, submitted_at=evt.occurred_at)
    await _maybe_plan(conn, svc, msg)


async def on_classified(evt: MessageClassifiedV1, conn: db.Conn, svc: Service) -> None:
    """Record the level; plan once the content is here too."""
    await _maybe_plan(conn, svc, await store.merge_message(conn, evt.message_id, evt.school_id, level=evt.level,
                                                           other_pupil_named=evt.other_pupil_named))


async def on_approval(evt: MessageApprovalV1, conn: db.Conn, svc: Service) -> None:
    """A held message is released (approved) or dropped (rejected)."""
    await _maybe_plan(conn, svc, await store.merge_message(conn, evt.message_id, evt.school_id,
                                                           approval=evt.decision))


async def on_recalled(evt: MessageRecalledV1, conn: db.Conn, svc: Service) -> None:
    """Cancel every delivery not yet handed off; the key is already gone (drop any cached copy)."""
    svc.keys().forget(evt.school_id)
    await store.merge_message(conn, evt.message_id, evt.school_id, state="recalled")
    await _statuses(conn, svc, evt.school_id, evt.message_id, await store.cancel_queued(conn, evt.message_id),
                    "cancelled")


async def _maybe_plan(conn: db.Conn, svc: Service, msg: dict[str, Any]) -> None:
    if msg["state"] != "waiting" and not (msg["state"] == "held" and msg["approval"]):
        return
    if msg["content"] is None or msg["level"] is None:
        return
    if msg["other_pupil_named"]:
        await store.set_message_state(conn, msg["message_id"], "blocked")  # never sent: it would leak a child
        return
    if msg["approval"] == "rejected":
        await store.set_message_state(conn, msg["message_id"], "rejected")
        return
    if msg["requires_approval"] and msg["level"] == "official-sensitive" and msg["approval"] != "approved":
        await store.set_message_state(conn, msg["message_id"], "held")
        return
    await plan(conn, svc, msg)


async def plan(conn: db.Conn, svc: Service, msg: dict[str, Any]) -> None:
    """One delivery per (message, recipient, channel), per the channel policy.

    One parent, one delivery: a parent of two pupils in the audience gets the message
    once, unless it is personalised (then once per pupil, each rendering its own).
    Scheduled messages are planned now and handed off at their time.
    """
    seen: set[tuple[bytes, UUID | None]] = set()
    rows: list[tuple] = []
    due = msg["schedule_at"]
    for c in await store.audience_contacts(conn, msg["audience"]):
        person = bytes(c["person_key"]) if c["person_key"] is not None else c["contact_id"].bytes
        key = (person, c["pupil_id"] if msg["personalised"] else None)
        if key in seen:
            continue
        seen.add(key)
        recipient = logic.Recipient(c["has_email"], c["has_mobile"], c["has_app"],
                                    frozenset(c["channels"]), c["consent"])
        for p in logic.plan_channels(msg["level"], msg["kind"], recipient):
            rows.append((uuid4(), msg["school_id"], msg["message_id"], c["contact_id"], p.channel, p.content,
                         msg["urgent"], "contact", c["pupil_id"], c["person_key"], due))
    if msg["audience"].get("staff"):
        for staff_id, has_email, has_mobile, person_key in await _staff(conn, svc, msg["school_id"]):
            recipient = logic.Recipient(has_email, has_mobile, False)
            for p in logic.plan_channels(msg["level"], msg["kind"], recipient):
                if p.channel != "app":  # staff read the full text in the school's own systems
                    rows.append((uuid4(), msg["school_id"], msg["message_id"], staff_id, p.channel, p.content,
                                 msg["urgent"], "staff", None, person_key, due))
    created = await store.insert_deliveries(conn, rows)
    await store.record_case(conn, msg["message_id"], msg["audience"])
    await store.set_message_state(conn, msg["message_id"], "planned")
    await _statuses(conn, svc, msg["school_id"], msg["message_id"], created, "queued")
    await access.record(conn, svc.outbox, svc.name, None, school_id=msg["school_id"],
                        resource=f"messages/{msg['message_id']}/audience", action="read",
                        purpose=f"resolve audience: {len(seen)} recipients")


async def _staff(conn: db.Conn, svc: Service, school_id: UUID) -> list[tuple[UUID, bool, bool, bytes | None]]:
    """Every staff member's reachable channels (their bodies are decrypted here, in memory only)."""
    out = []
    for r in await store.staff(conn):
        state = json.loads(await svc.keys().decrypt(conn, school_id, "directory.staff", bytes(r["body"])))
        email, mobile = state.get("email"), state.get("mobile")
        person = (await svc.keys().index(conn, school_id, "email", email.lower()) if email
                  else await svc.keys().index(conn, school_id, "mobile", mobile) if mobile else None)
        out.append((r["staff_id"], bool(email), bool(mobile), person))
    return out


async def _statuses(conn: db.Conn, svc: Service, school_id: UUID, message_id: UUID,
                    deliveries: list[tuple[UUID, str]], state: str) -> None:
    await svc.outbox.add(conn, *status.now_in(school_id, message_id, deliveries, state))


def register(svc: Service) -> None:
    """Route dispatch's events to their handlers."""
    svc.handle(SchoolCreatedV1, on_school_created)
    svc.handle(DirectoryChangesV1, on_directory_changes)
    svc.handle(MessageSubmittedV1, on_submitted)
    svc.handle(MessageClassifiedV1, on_classified)
    svc.handle(MessageApprovalV1, on_approval)
    svc.handle(MessageRecalledV1, on_recalled)
