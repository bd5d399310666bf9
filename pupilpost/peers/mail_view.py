"""The SMTP stand-in's JSON view: list mails, read one, clear them."""
from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from pupilpost.peers.smtp import SmtpPeer, StoredMail


def _part(msg: EmailMessage, subtype: str) -> str | None:
    body = msg.get_body(preferencelist=(subtype,))
    return str(body.get_content()) if body is not None else None


def mail_detail(mail: StoredMail) -> dict[str, Any]:
    """Everything about one mail: summary, headers, text and HTML bodies, raw source."""
    msg = message_from_bytes(mail.raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return {**mail.summary(), "headers": [[k, str(v)] for k, v in msg.items()],
            "text": _part(msg, "plain"), "html": _part(msg, "html"),
            "raw": mail.raw.decode("utf-8", "replace")}


def mail_app(peer: SmtpPeer) -> Starlette:
    """GET /mails[?to=addr], GET /mails/{id}, DELETE /mails."""

    async def listing(request: Request) -> Response:
        if request.method == "DELETE":
            peer.mails.clear()
            return Response(status_code=204)
        to = request.query_params.get("to", "").lower()
        mails = [m for m in peer.mails.values() if not to or to in (r.lower() for r in m.rcpt_tos)]
        return JSONResponse([m.summary() for m in mails])

    async def one(request: Request) -> Response:
        mail = peer.mails.get(request.path_params["id"])
        return JSONResponse(mail_detail(mail)) if mail else JSONResponse({"error": "not found"}, 404)

    return Starlette(routes=[Route("/mails", listing, methods=["GET", "DELETE"]),
                             Route("/mails/{id}", one)])
