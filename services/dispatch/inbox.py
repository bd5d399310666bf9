"""The parent side of the app channel: sign in with a one-time code, read the inbox (the read
receipt), register Web Push devices, choose channels and marketing consent.

A parent is one person (person_key) at one school; every query runs in that school's
transaction and is narrowed to that person. Sign-in never says whether an address is known.
"""
import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    HTTPException,
    Query,
    Request,
    Response,
)

from pupilpost import db, telemetry
from pupilpost.crypto import KeyUnavailable
from pupilpost.runner import Service
from schemas.audit import AccessV1
from services.dispatch import inbox_auth as ia
from services.dispatch import inbox_store as ist
from services.dispatch import logic, status
from services.dispatch.channels import Channels
from services.dispatch.content import Renderer
from services.dispatch.inbox_models import Login, NewSubscription, Preferences, Verify
from services.dispatch.providers.email import OutboundEmail

log = logging.getLogger(__name__)

CODE_SUBJECT = "Your Pupilpost sign-in code"
SMS_TIMEOUT = 30.0
WRONG_CODE = "code: the code is wrong, has expired or was tried too often; ask for a new one"


def code_text(code: str) -> str:
    """The sign-in message (email body and SMS alike)."""
    return (f"Your Pupilpost sign-in code is {code}. It expires in 10 minutes. "
            "If you did not ask to sign in, you can ignore this message.")


def router(svc: Service, channels: Channels) -> APIRouter:
    """The parent inbox routes bound to a running service and its provider clients."""
    r = APIRouter()

    async def parent(request: Request) -> ia.Parent:
        return await ia.parent_from(request, svc.db())

    Who = Annotated[ia.Parent, Depends(parent)]

    @r.post("/v1/inbox/login", status_code=202)
    async def login(body: Login, tasks: BackgroundTasks) -> dict:
        login_id, (field, address) = uuid4(), body.address()
        code = await _start_login(svc, body.school_id, login_id, field, address)
        if code is not None:
            tasks.add_task(_send_code, channels, field, address, code, login_id)
        return {"login_id": login_id}

    @r.post("/v1/inbox/verify")
    async def verify(body: Verify, response: Response) -> dict:
        issued = await _verify(svc, body.login_id, body.code)
        if issued is None:
            raise HTTPException(401, detail=WRONG_CODE)
        token, expires_at = issued
        response.headers["Cache-Control"] = "no-store"
        return {"token": token, "expires_at": expires_at}

    @r.post("/v1/inbox/logout", status_code=204)
    async def logout(who: Who) -> Response:
        async with db.tenant_tx(svc.db(), who.school_id) as conn:
            for sub_id in await ist.revoke_token(conn, who.token_id):
                await _audit(conn, svc, who, f"push-subscriptions/{sub_id}", "delete", "parent signs a device out")
        return Response(status_code=204)

    @r.get("/v1/inbox")
    async def inbox(who: Who, before: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
        cursor = ia.decode_cursor(before) if before is not None else None
        if before is not None and cursor is None:
            raise HTTPException(422, detail="before: not a cursor from this inbox")
        async with db.tenant_tx(svc.db(), who.school_id) as conn:
            rows = await ist.inbox_page(conn, who.school_id, who.person_key, cursor, limit)
            renderer = Renderer(conn, svc.keys())
            items = []
            for row in rows:
                items.append(await _render(renderer, who, row, body=False))
                if not items[-1]["withdrawn"]:
                    await _audit(conn, svc, who, f"messages/{row['message_id']}", "read", "parent inbox list")
        last = rows[-1] if len(rows) == limit else None
        return {"items": items, "next": ia.encode_cursor(last["at"], last["delivery_id"]) if last else None}

    @r.get("/v1/inbox/push/key")
    async def push_key() -> dict:
        if channels.push is None:
            raise HTTPException(503, detail="push: Web Push is not configured on this platform")
        return {"application_server_key": channels.push.application_server_key}

    @r.post("/v1/inbox/push/subscriptions", status_code=201)
    async def subscribe(body: NewSubscription, who: Who) -> dict:
        keys = svc.keys()
        async with db.tenant_tx(svc.db(), who.school_id) as conn:
            sealed = await keys.encrypt(conn, who.school_id, "push.subscription", json.dumps(body.stored()))
            endpoint_key = await keys.index(conn, who.school_id, "push.endpoint", body.endpoint)
            sub_id = await ist.save_subscription(conn, uuid4(), who.school_id, who.person_key, sealed, endpoint_key,
                                                 who.token_id)
            await _audit(conn, svc, who, f"push-subscriptions/{sub_id}", "create", "parent registers a device")
        return {"subscription_id": sub_id}

    @r.delete("/v1/inbox/push/subscriptions/{subscription_id}", status_code=204)
    async def unsubscribe(subscription_id: UUID, who: Who) -> Response:
        async with db.tenant_tx(svc.db(), who.school_id) as conn:
            gone = await ist.delete_subscription(conn, subscription_id, who.person_key)
            if gone:
                await _audit(conn, svc, who, f"push-subscriptions/{subscription_id}", "delete",
                             "parent removes a device")
        if not gone:
            raise HTTPException(404, detail="subscription_id: no such push subscription")
        return Response(status_code=204)

    @r.get("/v1/inbox/preferences")
    async def get_preferences(who: Who) -> dict:
        async with db.tenant_tx(svc.db(), who.school_id) as conn:
            rows = await ist.preferences(conn, who.school_id, who.person_key)
            for row in rows:
                await _audit(conn, svc, who, f"contacts/{row['contact_id']}/preferences", "read",
                             "parent reads own preferences")
        return _preferences_view(rows)

    @r.put("/v1/inbox/preferences")
    async def put_preferences(body: Preferences, who: Who) -> dict:
        channels_ = body.ordered()
        async with db.tenant_tx(svc.db(), who.school_id) as conn:
            old = await ist.save_preferences(conn, who.school_id, who.person_key, channels_, body.marketing_consent)
            for row in old:
                await _audit(conn, svc, who, f"contacts/{row['contact_id']}/preferences", "update",
                             _change_purpose(row, channels_, body.marketing_consent))
            rows = await ist.preferences(conn, who.school_id, who.person_key)
        return _preferences_view(rows)

    @r.get("/v1/inbox/{delivery_id}")
    async def read(delivery_id: UUID, who: Who) -> dict:
        async with db.tenant_tx(svc.db(), who.school_id) as conn:
            row = await ist.inbox_item(conn, who.school_id, who.person_key, delivery_id)
            if row is None:
                raise HTTPException(404, detail="delivery_id: no such message in this inbox")
            item = await _render(Renderer(conn, svc.keys()), who, row, body=True)
            if not item["withdrawn"]:
                await _mark_read(conn, svc, who, row)
                await _audit(conn, svc, who, f"messages/{row['message_id']}", "read", "parent read")
                item["read"] = True
        return item

    return r


async def _start_login(svc: Service, school_id: UUID, login_id: UUID, field: Literal["email", "mobile"],
                       address: str) -> str | None:
    """Record a sign-in for a known address and return its code; None (nothing stored) otherwise."""
    now = datetime.now(UTC)
    async with db.tenant_tx(svc.db(), school_id) as conn:
        try:
            key = await svc.keys().index(conn, school_id, field, address)
        except KeyUnavailable:  # no such school here (or its keys are destroyed): nobody to sign in
            return None
        person = await ist.find_person(conn, field, key)
        if person is None or await ist.recent_logins(conn, school_id, person,
                                                      now - ia.LOGIN_WINDOW) >= ia.LOGINS_PER_WINDOW:
            return None
        await ist.prune(conn, school_id, person)
        code = ia.new_code()
        await ist.save_login(conn, login_id, school_id, person, "email" if field == "email" else "sms",
                             ia.code_hash(login_id, code), now + ia.CODE_LIFETIME)
        await ist.save_locator(conn, login_id, "login", school_id, now + ia.CODE_LIFETIME)
    return code


async def _send_code(channels: Channels, field: str, address: str, code: str, login_id: UUID) -> None:
    """Send a sign-in code to the address it was asked for; a failure is logged by type only."""
    try:
        if field == "email":
            if channels.email is None:
                log.warning("sign-in code for login %s not sent: the email channel is not configured", login_id)
                return
            await channels.email.send(OutboundEmail(delivery_id=str(login_id), to=address, subject=CODE_SUBJECT,
                                                    text=code_text(code)))
        else:
            if channels.sms is None:
                log.warning("sign-in code for login %s not sent: the SMS channel is not configured", login_id)
                return
            await asyncio.wait_for(channels.sms.submit(address, code_text(code), reference=str(login_id)),
                                   SMS_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the parent can ask again; log the type, never address or code
        log.warning("sign-in code for login %s not sent: %s", login_id, type(exc).__name__)


async def _verify(svc: Service, login_id: UUID, code: str) -> tuple[str, datetime] | None:
    """A parent token for the right code; a wrong one is counted (and the answer is the same for all)."""
    now = datetime.now(UTC)
    async with db.plain_tx(svc.db()) as conn:
        school_id = await ist.locate(conn, login_id, "login")
    if school_id is None:
        return None
    async with db.tenant_tx(svc.db(), school_id) as conn:
        login = await ist.load_login(conn, login_id)
        if login is None or not ia.login_usable(login["attempts"], login["expires_at"], login["used_at"], now):
            return None
        if not ia.code_matches(login["code_hash"], login_id, code):
            await ist.count_wrong_code(conn, login_id)
            return None
        await ist.finish_login(conn, login_id)
        token_id, token, secret_hash = ia.new_token()
        person, expires_at = bytes(login["person_key"]), now + ia.TOKEN_LIFETIME
        await ist.save_token(conn, token_id, school_id, person, secret_hash, expires_at)
        await ist.save_locator(conn, token_id, "token", school_id, expires_at)
        who = ia.Parent(token_id, school_id, person)
        for contact_id in await ist.mark_has_app(conn, school_id, person):
            await _audit(conn, svc, who, f"contacts/{contact_id}/preferences", "update", "parent signed in to app")
    return token, expires_at


async def _render(renderer: Renderer, who: ia.Parent, row: dict[str, Any], *, body: bool) -> dict[str, Any]:
    """One inbox item; a recalled message shows as withdrawn, with no content at all."""
    item = {"delivery_id": row["delivery_id"], "message_id": row["message_id"], "sent_at": row["at"],
            "read": row["state"] == "read", "urgent": row["urgent"], "withdrawn": True}
    if row["message_state"] == "recalled":
        return item
    content = await renderer.content(who.school_id, row["message_id"], row["content"],
                                     personalised=row["personalised"], pupil_id=row["pupil_id"])
    if content is None:
        return item
    item.update(withdrawn=False, subject=content.subject, **({"body": content.body} if body else {}))
    return item


async def _mark_read(conn: db.Conn, svc: Service, who: ia.Parent, row: dict[str, Any]) -> None:
    """The read receipt: state and read_at, and the status event in the same transaction."""
    if row["state"] == "read":
        return
    state = logic.advance(row["state"], "read")
    await ist.mark_read(conn, row["delivery_id"], state)
    await svc.outbox.add(conn, *status.now_in(who.school_id, row["message_id"], [(row["delivery_id"], "app")],
                                              "read"))


def _preferences_view(rows: list[dict[str, Any]]) -> dict[str, Any]:
    latest = rows[0] if rows else {"channels": [], "marketing_consent": False, "consent_recorded_at": None}
    return {"channels": list(latest["channels"]), "marketing_consent": latest["marketing_consent"],
            "consent_recorded_at": latest["consent_recorded_at"]}


def _change_purpose(old: dict[str, Any], channels: list[str], consent: bool) -> str:
    changes = []
    if old["marketing_consent"] != consent:
        changes.append("marketing consent " + ("given" if consent else "withdrawn"))
    if list(old["channels"]) != channels:
        changes.append("channel preferences")
    return "parent changes " + (" and ".join(changes) if changes else "nothing (preferences confirmed)")


async def _audit(conn: db.Conn, svc: Service, who: ia.Parent, resource: str, action: str, purpose: str) -> None:
    await svc.outbox.add(conn, AccessV1(
        school_id=who.school_id, actor_id=who.token_id, actor_kind="parent", service=svc.name,
        resource=resource, action=action, purpose=purpose, trace_id=telemetry.current_trace_id()))  # type: ignore[arg-type]
