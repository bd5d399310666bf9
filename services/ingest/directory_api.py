"""Directory routes for schools (every read audited) and the parent's answer to a contact change."""
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from pupilpost import access, auth, db
from pupilpost.auth import Principal
from pupilpost.runner import Service
from schemas.directory import ContactChangeDecidedV1
from services.ingest import directory
from services.ingest import directory_store as ds
from services.ingest.settings import IngestSettings

Limit = Annotated[int, Query(ge=1, le=500)]


class Answer(BaseModel):
    """The one-time secret sent to the parent with the confirmation request."""

    secret: str = Field(min_length=20, max_length=200)


def router(svc: Service) -> APIRouter:
    """The directory routes bound to a running service."""
    r = APIRouter()
    Caller = Annotated[Principal, Depends(svc.principal)]
    settings: IngestSettings = svc.settings  # type: ignore[assignment]

    async def scope(who: Principal, reveal: bool, resource: str, purpose: str):
        school_id = who.school_id
        if who.kind != "school" or school_id is None:
            raise HTTPException(403, detail="a school API key is required")
        auth.require_permission(who, school_id, "directory.read")
        if reveal:
            auth.require_permission(who, school_id, "directory.reveal")
        return school_id, resource, purpose

    @r.get("/v1/directory/groups")
    async def groups(who: Caller) -> dict:
        school_id, *_ = await scope(who, False, "directory/groups", "")
        async with db.tenant_tx(svc.db(), school_id) as conn:
            items = await ds.groups(conn)
            await _audit(conn, svc, who, school_id, "directory/groups", False)
        return {"items": items}

    @r.get("/v1/directory/pupils")
    async def pupils(who: Caller, year_group: str | None = None, reg_group: str | None = None,
                     after: UUID | None = None, limit: Limit = 100, reveal: bool = False) -> dict:
        school_id, *_ = await scope(who, reveal, "", "")
        async with db.tenant_tx(svc.db(), school_id) as conn:
            rows = await ds.pupils(conn, year_group, reg_group, after, limit)
            items = [await _view(conn, svc, school_id, "pupil", r, reveal) for r in rows]
            await _audit(conn, svc, who, school_id, "directory/pupils", reveal)
        return {"items": items, "next": items[-1]["pupil_id"] if len(items) == limit else None}

    @r.get("/v1/directory/pupils/{pupil_id}/contacts")
    async def contacts(pupil_id: UUID, who: Caller, reveal: bool = False) -> dict:
        school_id, *_ = await scope(who, reveal, "", "")
        async with db.tenant_tx(svc.db(), school_id) as conn:
            if not await ds.pupil_exists(conn, pupil_id):
                raise HTTPException(404, detail="pupil not found")
            items = [await _contact_view(conn, svc, school_id, r, reveal) for r in await ds.contacts_of(conn, pupil_id)]
            await _audit(conn, svc, who, school_id, f"directory/pupils/{pupil_id}/contacts", reveal)
        return {"pupil_id": pupil_id, "items": items}

    @r.get("/v1/directory/staff")
    async def staff(who: Caller, after: UUID | None = None, limit: Limit = 100, reveal: bool = False) -> dict:
        school_id, *_ = await scope(who, reveal, "", "")
        async with db.tenant_tx(svc.db(), school_id) as conn:
            items = [await _view(conn, svc, school_id, "staff", r, reveal) for r in await ds.staff(conn, after, limit)]
            await _audit(conn, svc, who, school_id, "directory/staff", reveal)
        return {"items": items, "next": items[-1]["staff_id"] if len(items) == limit else None}

    @r.get("/v1/directory/contacts/unconfirmed")
    async def unconfirmed(who: Caller, older_than_days: int | None = None, limit: Limit = 500) -> dict:
        school_id, *_ = await scope(who, False, "", "")
        days = older_than_days if older_than_days is not None else settings.unconfirmed_after_days
        cutoff = datetime.now(UTC) - timedelta(days=days)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            items = await ds.unconfirmed(conn, cutoff, limit)
            await _audit(conn, svc, who, school_id, "directory/contacts/unconfirmed", False)
        return {"older_than_days": days, "items": items}

    @r.get("/v1/directory/contact-changes")
    async def contact_changes(who: Caller, state: Literal["pending", "accepted", "rejected", "superseded"]
                              | None = None, limit: Limit = 100) -> dict:
        school_id, *_ = await scope(who, False, "", "")
        async with db.tenant_tx(svc.db(), school_id) as conn:
            items = await ds.changes(conn, state, limit)
            await _audit(conn, svc, who, school_id, "directory/contact-changes", False)
        return {"items": items}

    @r.post("/v1/contact-changes/{change_id}/{decision}")
    async def answer(change_id: UUID, decision: Literal["accept", "reject"], body: Answer) -> dict:
        return await decide(svc, change_id, decision, body.secret)

    return r


async def _audit(conn, svc: Service, who: Principal, school_id: UUID, resource: str, reveal: bool) -> None:
    await access.record(conn, svc.outbox, svc.name, who, school_id=school_id, resource=resource, action="read",
                        purpose="directory (revealed)" if reveal else "directory")


async def _view(conn, svc: Service, school_id: UUID, kind: str, row: dict, reveal: bool) -> dict[str, Any]:
    body = row.pop("body")
    if reveal:
        row["details"] = await directory.decrypt_json(conn, svc, school_id, f"{kind}.body", body)
    return row


async def _contact_view(conn, svc: Service, school_id: UUID, row: dict, reveal: bool) -> dict[str, Any]:
    email, mobile = row.pop("email_enc"), row.pop("mobile_enc")
    row = await _view(conn, svc, school_id, "contact", row, reveal)
    row["has_email"], row["has_mobile"] = email is not None, mobile is not None
    if reveal:
        for name, enc in (("email", email), ("mobile", mobile)):
            row["details"][name] = (await svc.keys().decrypt(conn, school_id, f"contact.{name}", bytes(enc))).decode() \
                if enc is not None else None
    return row


async def decide(svc: Service, change_id: UUID, decision: str, secret: str) -> dict:
    """Apply the parent's answer: an accepted value comes into use; a rejection is kept for the school."""
    async with db.operator_tx(svc.db()) as conn:
        school_id = await ds.school_of_change(conn, change_id)
    if school_id is None:
        raise HTTPException(404, detail="no such change")
    async with db.tenant_tx(svc.db(), school_id) as conn:
        change = await ds.load_change(conn, change_id)
        if change is None or not hmac.compare_digest(bytes(change["secret_hash"]),
                                                     hashlib.sha256(secret.encode()).digest()):
            raise HTTPException(404, detail="no such change")
        if change["state"] != "pending":
            raise HTTPException(409, detail=f"this change is already {change['state']}")
        state = "accepted" if decision == "accept" else "rejected"
        await ds.decide_change(conn, change_id, state)
        if state == "accepted":
            await ds.set_contact_value(conn, change["contact_id"], change["field"], bytes(change["value_enc"]),
                                       bytes(change["value_index"]))
            await directory.publish_state(conn, svc, school_id, change_id, {"contact": [change["contact_id"]]}, {})
        await svc.outbox.add(conn, ContactChangeDecidedV1(
            school_id=school_id, change_id=change_id, contact_id=change["contact_id"], field=change["field"],
            decision=state))
        await access.record(conn, svc.outbox, svc.name, None, school_id=school_id,
                            resource=f"contacts/{change['contact_id']}/{change['field']}", action="update",
                            purpose=f"parent {state} a contact change")
    return {"change_id": change_id, "state": state}
