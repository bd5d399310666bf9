"""Asking a parent to confirm a new email or mobile the school's MIS gave us.

Ingest holds the new value as pending and publishes `directory.contact_change.requested`
with the value and a one-time secret sealed under the school's key. Dispatch sends the
request to the NEW address (it is that address's owner who must say yes), with a link
carrying the change id and the secret in the URL fragment (never sent to a server log);
the app or web page posts it to `POST /v1/contact-changes/{id}/accept` or `/reject`.
Until then the old confirmed value stays in use. The outcome event needs no action here.
"""
from __future__ import annotations

import base64
import functools
import json
import logging

from pupilpost import access, db
from pupilpost.runner import Service
from schemas.directory import ContactChangeDecidedV1, ContactChangeRequestedV1
from services.dispatch import store
from services.dispatch.channels import Channels
from services.dispatch.providers.email import OutboundEmail

log = logging.getLogger(__name__)


def request_text(school: str, field: str, url: str) -> str:
    """The confirmation request: what was recorded, what to do, and the link (no other personal data)."""
    what = "email address" if field == "email" else "mobile number"
    return (f"{school} has recorded this {what} for you as a parent or carer. If it is yours, please confirm "
            f"it: {url}\nIf it is not, open the same link and reject it, so the school can correct its records.")


async def on_requested(evt: ContactChangeRequestedV1, conn: db.Conn, svc: Service, *, channels: Channels) -> None:
    """Send the confirmation request to the new value, by the channel it belongs to."""
    body = json.loads(await svc.keys().decrypt(conn, evt.school_id, "directory.contact_change",
                                               base64.b64decode(evt.body)))
    school = await store.school_name(conn, evt.school_id) or "Your school"
    url = f"{svc.settings.public_url.rstrip('/')}/confirm-contact#change={evt.change_id}&secret={body['secret']}"
    text = request_text(school, evt.field, url)
    if evt.field == "email" and channels.email is not None:
        await channels.email.send(OutboundEmail(delivery_id=str(evt.change_id), to=body["value"],
                                                subject=f"Please confirm your email address for {school}",
                                                text=text, from_name=school))
    elif evt.field == "mobile" and channels.sms is not None:
        await channels.sms.submit(body["value"], text, reference=str(evt.change_id))
    else:
        log.warning("contact change %s not sent: the %s channel is not configured", evt.change_id, evt.field)
        return
    await access.record(conn, svc.outbox, svc.name, None, school_id=evt.school_id,
                        resource=f"directory/contact-changes/{evt.change_id}", action="read",
                        purpose=f"ask the parent to confirm a new {evt.field}")


async def on_decided(evt: ContactChangeDecidedV1, conn: db.Conn, svc: Service) -> None:
    """Nothing to do: the accepted value reaches dispatch as a directory change."""


def register(svc: Service, channels: Channels) -> None:
    """Route the contact-change events to their handlers, sending through `channels`."""
    svc.handle(ContactChangeRequestedV1, functools.partial(on_requested, channels=channels))
    svc.handle(ContactChangeDecidedV1, on_decided)
