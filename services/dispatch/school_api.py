"""School-facing dispatch routes: the case record of a pupil, and the school's email footer.

The case record lists every message a pupil's family was sent: who sent it (the staff
member named at compose), when, its level and kind, to whom and how each delivery went,
and, for a caller allowed to reveal personal data, its content. Every read is audited.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from pupilpost import access, auth, db
from pupilpost.auth import Principal
from pupilpost.runner import Service
from services.dispatch.content import Renderer

CASE_RECORD = """
SELECT e.message_id, e.recorded_at, m.author_id, m.submitted_at, m.kind, m.level, m.state, m.personalised,
       m.content, m.urgent
FROM dispatch.case_entry e JOIN dispatch.message m ON m.message_id = e.message_id
WHERE e.pupil_id = $1 AND ($2::timestamptz IS NULL OR coalesce(m.submitted_at, e.recorded_at) < $2)
ORDER BY coalesce(m.submitted_at, e.recorded_at) DESC LIMIT $3
"""

RECIPIENTS = """
SELECT d.message_id, d.delivery_id, d.contact_id, d.channel, d.content, d.state, d.sent_at, d.read_at
FROM dispatch.delivery d
WHERE d.message_id = ANY($1::uuid[]) AND d.recipient_kind = 'contact'
  AND (d.pupil_id = $2 OR d.contact_id IN (SELECT contact_id FROM dispatch.contact WHERE pupil_id = $2)
       OR d.person_key IN (SELECT person_key FROM dispatch.contact WHERE pupil_id = $2 AND person_key IS NOT NULL))
ORDER BY d.message_id, d.contact_id, d.channel
"""


class EmailSettings(BaseModel):
    """PUT /v1/deliveries/settings body: the disclaimer appended to every email."""

    email_footer: str | None = Field(default=None, max_length=2000,
                                     description="plain text; {school} is replaced by the school's name")


def router(svc: Service) -> APIRouter:
    """The school-facing dispatch routes bound to a running service."""
    r = APIRouter()
    Caller = Annotated[Principal, Depends(svc.principal)]

    def school(who: Principal, permission: str) -> UUID:
        if who.kind != "school" or who.school_id is None:
            raise HTTPException(403, detail="a school API key is required")
        auth.require_permission(who, who.school_id, permission)  # type: ignore[arg-type]
        return who.school_id

    @r.get("/v1/case-records/{pupil_id}")
    async def case_record(pupil_id: UUID, who: Caller, reveal: bool = False, before: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
        school_id = school(who, "directory.read")
        if reveal:
            auth.require_permission(who, school_id, "directory.reveal")
        cursor = _cursor(before)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            if not await conn.fetchval("SELECT 1 FROM dispatch.pupil WHERE pupil_id = $1 UNION"
                                       " SELECT 1 FROM dispatch.case_entry WHERE pupil_id = $1", pupil_id):
                raise HTTPException(404, detail="pupil not found")
            rows = await conn.fetch(CASE_RECORD, pupil_id, cursor, limit)
            recipients: dict[UUID, list[dict[str, Any]]] = {}
            for d in await conn.fetch(RECIPIENTS, [x["message_id"] for x in rows], pupil_id):
                recipients.setdefault(d["message_id"], []).append(
                    {k: d[k] for k in ("delivery_id", "contact_id", "channel", "content", "state", "sent_at",
                                       "read_at")})
            renderer = Renderer(conn, svc.keys())
            items = []
            for m in rows:
                item = {k: m[k] for k in ("message_id", "recorded_at", "author_id", "submitted_at", "kind", "level",
                                          "urgent")}
                item["withdrawn"] = m["state"] == "recalled"
                item["recipients"] = recipients.get(m["message_id"], [])
                if reveal and not item["withdrawn"]:
                    content = await renderer.content(school_id, m["message_id"], m["content"],
                                                     personalised=m["personalised"], pupil_id=pupil_id)
                    item["withdrawn"] = content is None
                    if content is not None:
                        item["subject"], item["body"] = content.subject, content.body
                items.append(item)
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource=f"case-records/{pupil_id}", action="read",
                                purpose="case record with content" if reveal else "case record")
        last = items[-1] if len(items) == limit else None
        nxt = (last["submitted_at"] or last["recorded_at"]).isoformat() if last else None
        return {"pupil_id": pupil_id, "items": items, "next": nxt}

    @r.get("/v1/deliveries/settings")
    async def get_settings(who: Caller) -> dict[str, Any]:
        school_id = school(who, "messages")
        async with db.tenant_tx(svc.db(), school_id) as conn:
            footer = await conn.fetchval("SELECT email_footer FROM dispatch.school WHERE school_id = $1", school_id)
        return {"email_footer": footer}

    @r.put("/v1/deliveries/settings")
    async def put_settings(body: EmailSettings, who: Caller) -> dict[str, Any]:
        school_id = school(who, "messages")
        footer = body.email_footer.strip() if body.email_footer and body.email_footer.strip() else None
        if footer and ("{" in footer.replace("{school}", "") or "}" in footer.replace("{school}", "")):
            raise HTTPException(422, detail={"field": "email_footer",
                                             "reason": "braces are only allowed in the placeholder {school}"})
        async with db.tenant_tx(svc.db(), school_id) as conn:
            if await conn.fetchval("UPDATE dispatch.school SET email_footer = $2 WHERE school_id = $1 RETURNING 1",
                                   school_id, footer) is None:
                raise HTTPException(409, detail="the school is not provisioned in dispatch yet")
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource="deliveries/settings", action="update", purpose="email footer")
        return {"email_footer": footer}

    return r


def _cursor(before: str | None) -> datetime | None:
    if before is None:
        return None
    try:
        at = datetime.fromisoformat(before)
    except ValueError:
        raise HTTPException(422, detail={"field": "before", "reason": "not an ISO 8601 time"}) from None
    if at.tzinfo is None:
        raise HTTPException(422, detail={"field": "before", "reason": "must carry a timezone"})
    return at
