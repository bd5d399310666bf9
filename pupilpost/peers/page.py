"""One small HTML page listing what the stand-ins received: mail, SMS and pushes."""
from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from pupilpost.peers.run import PeersHandle

_STYLE = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.4em}
h2{font-size:1.1em;margin-top:2em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.muted{color:#777}code{font-size:12px}"""


def _table(headings: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return '<p class="muted">Nothing yet.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(peers: PeersHandle) -> str:
    """The page: newest first, everything escaped, refreshed every five seconds."""
    mails = [[m["received_at"][11:19], ", ".join(m["rcpt_tos"]), m["subject"], m["message_id"],
              ", ".join(f"{k}: {v}" for k, v in m["outcome"].items())]
             for m in (x.summary() for x in reversed(list(peers.smtp.mails.values())))]
    sms = [[s.received_at[11:19], s.destination, s.source, s.text, s.state + ("" if s.error == "000" else f" err {s.error}"),
            s.id] for s in reversed(list(peers.smsc.messages.values()))]
    pushes = [[p.received_at[11:19], p.subscription_id[:8] + "…", p.urgency, str(p.ttl),
               json.dumps(p.payload, ensure_ascii=False)] for p in reversed(list(peers.push.messages.values()))]
    links = " · ".join(f'<a href="{escape(u)}">{escape(n)}</a>' for n, u in peers.api_urls().items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
            f"<title>Pupilpost stand-ins</title><style>{_STYLE}</style></head><body>"
            f"<h1>Pupilpost: what the outside world received</h1><p class='muted'>JSON: {links}</p>"
            f"<h2>Mail ({len(mails)})</h2>"
            + _table(["time", "to", "subject", "message-id", "outcome"], mails)
            + f"<h2>SMS ({len(sms)})</h2>" + _table(["time", "to", "from", "text", "state", "id"], sms)
            + f"<h2>Push ({len(pushes)})</h2>"
            + _table(["time", "subscription", "urgency", "ttl", "payload"], pushes)
            + "</body></html>")


def index_app(peers: PeersHandle) -> Starlette:
    """GET / (the page) and GET /urls (where each stand-in listens, as JSON)."""

    async def page(request: Request) -> Response:
        return HTMLResponse(render(peers))

    async def urls(request: Request) -> Response:
        return JSONResponse(peers.urls())

    return Starlette(routes=[Route("/", page), Route("/urls", urls)])
