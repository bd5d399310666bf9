"""Message routes: compose (content sealed under a per-message key), status, four-eyes
approval, recall. The school's system names the acting staff member in X-Pupilpost-Staff."""
import base64
from typing import Annotated, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from pupilpost import access, auth, db, render
from pupilpost.auth import Principal
from pupilpost.runner import Service
from schemas.messages import Audience, Level, MessageApprovalV1, MessageRecalledV1, MessageSubmittedV1
from services.ingest import messages_store as ms
from services.ingest.directory_store import as_json

Staff = Annotated[UUID | None, Header(alias="X-Pupilpost-Staff", description="the acting staff member")]


class NewMessage(BaseModel):
    """POST /v1/messages body."""

    audience: Audience
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    kind: Literal["information", "emergency", "marketing"] = "information"
    urgent: bool = False
    personalised: bool = False
    schedule_at: AwareDatetime | None = None
    mark_level: Level | None = Field(default=None, description="raise the classification; never lowers it")

    @field_validator("subject", "body")
    @classmethod
    def _known_merge_fields(cls, value: str) -> str:
        # Say where, not what: the placeholder is the caller's own text and may be a name.
        for start, _, name in render.placeholders(value):
            if name not in render.FIELDS:
                raise ValueError(f"unknown merge field at character {start}; merge fields are "
                                 + ", ".join(f"{{{{{f}}}}}" for f in render.FIELDS))
        return value

    @model_validator(mode="after")
    def _someone(self) -> "NewMessage":
        a = self.audience
        if not (a.whole_school or a.year_groups or a.reg_groups or a.pupil_ids or a.staff):
            raise ValueError("audience: name at least one group, pupil, or the whole school")
        return self

    @model_validator(mode="after")
    def _merge_fields_need_personalised(self) -> "NewMessage":
        if self.personalised:
            if self.audience.staff:
                raise ValueError("audience: a personalised message is rendered for each pupil's family; "
                                 "staff cannot be in its audience")
            return self
        for name in ("subject", "body"):
            if render.placeholders(getattr(self, name)):
                raise ValueError(f"{name}: merge fields ({{{{...}}}}) are filled per family only in a personalised "
                                 "message; set personalised to true or remove them")
        return self


class Settings(BaseModel):
    """PUT /v1/messages/settings body."""

    require_approval: bool


def router(svc: Service) -> APIRouter:
    """The message routes bound to a running service."""
    r = APIRouter()
    Caller = Annotated[Principal, Depends(svc.principal)]

    def school(who: Principal) -> UUID:
        if who.kind != "school" or who.school_id is None:
            raise HTTPException(403, detail="a school API key is required")
        auth.require_permission(who, who.school_id, "messages")
        return who.school_id

    @r.post("/v1/messages", status_code=202)
    async def compose(body: NewMessage, who: Caller, staff: Staff = None) -> dict:
        school_id, message_id = school(who), uuid4()
        async with db.tenant_tx(svc.db(), school_id) as conn:
            if body.personalised and not await ms.audience_has_pupils(conn, body.audience):
                raise HTTPException(422, detail="audience: no pupil in the directory matches it, so there is "
                                                "no family to personalise the message for")
            keys = svc.keys()
            await keys.create_message_key(conn, school_id, message_id)
            sealed = await keys.encrypt_with(await keys.message_key(conn, school_id, message_id), "message.content",
                                             as_json({"subject": body.subject, "body": body.body}))
            evt = MessageSubmittedV1(
                school_id=school_id, message_id=message_id, author_id=staff or who.credential_id,
                audience=body.audience, kind=body.kind, urgent=body.urgent or body.kind == "emergency",
                personalised=body.personalised, schedule_at=body.schedule_at, marked_level=body.mark_level,
                requires_approval=await ms.require_approval(conn, school_id),
                content=base64.b64encode(sealed).decode())
            await ms.save_message(conn, evt)
            await svc.outbox.add(conn, evt)
            await _audit(conn, svc, who, school_id, message_id, "create", "compose message")
        return {"message_id": message_id, "state": "classifying"}

    @r.get("/v1/messages/{message_id}")
    async def status(message_id: UUID, who: Caller) -> dict:
        school_id = school(who)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            msg = await _load(conn, message_id)
            msg["deliveries"] = await ms.delivery_counts(conn, message_id)
            await _audit(conn, svc, who, school_id, message_id, "read", "message status")
        msg.pop("school_id")
        return msg

    @r.get("/v1/messages/{message_id}/deliveries")
    async def deliveries(message_id: UUID, who: Caller, after: UUID | None = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
        school_id = school(who)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            await _load(conn, message_id)
            items = await ms.deliveries(conn, message_id, after, limit)
            await _audit(conn, svc, who, school_id, message_id, "read", "delivery status")
        return {"items": items, "next": items[-1]["delivery_id"] if len(items) == limit else None}

    @r.post("/v1/messages/{message_id}/recall")
    async def recall(message_id: UUID, who: Caller, staff: Staff = None) -> dict:
        school_id, by = school(who), staff or who.credential_id
        async with db.tenant_tx(svc.db(), school_id) as conn:
            await _load(conn, message_id)
            if not await ms.recall(conn, message_id, by):
                raise HTTPException(409, detail="the message is already recalled")
            await svc.keys().destroy(conn, school_id, purpose="message", subject_id=message_id)
            await svc.outbox.add(conn, MessageRecalledV1(school_id=school_id, message_id=message_id, recalled_by=by))
            await _audit(conn, svc, who, school_id, message_id, "recall", f"recall message{_by(staff)}")
        return {"message_id": message_id, "state": "recalled"}

    @r.post("/v1/messages/{message_id}/{decision}")
    async def approve(message_id: UUID, decision: Literal["approve", "reject"], who: Caller,
                      staff: Staff = None) -> dict:
        school_id, approver = school(who), staff or who.credential_id
        state = "approved" if decision == "approve" else "rejected"
        async with db.tenant_tx(svc.db(), school_id) as conn:
            msg = await _load(conn, message_id)
            if msg["author_id"] == approver:
                raise HTTPException(403, detail="the author cannot approve or reject their own message")
            if not await ms.decide(conn, message_id, approver, state):
                raise HTTPException(409, detail=f"the message is {msg['state']}, not awaiting approval")
            await svc.outbox.add(conn, MessageApprovalV1(school_id=school_id, message_id=message_id,
                                                         approver_id=approver, decision=state,
                                                         urgent=msg["urgent"]))
            await _audit(conn, svc, who, school_id, message_id, "approve", f"four eyes: {state}{_by(staff)}")
        return {"message_id": message_id, "state": state, "approver_id": approver}

    @r.put("/v1/messages/settings")
    async def settings(body: Settings, who: Caller) -> dict:
        school_id = school(who)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            await ms.save_setting(conn, school_id, body.require_approval)
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource="messages/settings", action="update", purpose="four-eyes setting")
        return body.model_dump()

    return r


async def _load(conn: db.Conn, message_id: UUID) -> dict:
    msg = await ms.load_message(conn, message_id)
    if msg is None:
        raise HTTPException(404, detail="message not found")
    return msg


def _by(staff: UUID | None) -> str:
    """The acting staff member for an audit purpose (an id, never a name); the API key is the actor."""
    return f" by staff {staff}" if staff else ""


async def _audit(conn, svc: Service, who: Principal, school_id: UUID, message_id: UUID, action: str,
                 purpose: str) -> None:
    await access.record(conn, svc.outbox, svc.name, who, school_id=school_id, resource=f"messages/{message_id}",
                        action=action, purpose=purpose)


