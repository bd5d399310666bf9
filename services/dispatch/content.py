"""What one delivery says: the message decrypted under its own key, personalised for the
pupil it is about, or the neutral notice when the content must be read in the app.

Used at hand-off (email, SMS, push) and by the parent inbox, so what a parent reads in
the app is what the classifier checked. Everything here is plaintext in memory only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pupilpost import db, render
from pupilpost.crypto import KeyUnavailable, Keyring

__all__ = ["Content", "KeyUnavailable", "Renderer"]


@dataclass(frozen=True)
class Content:
    """A message's subject and body as one recipient sees it."""

    subject: str
    body: str


class Renderer:
    """Decrypts and personalises deliveries, caching each message and pupil for one batch."""

    def __init__(self, conn: db.Conn, keys: Keyring) -> None:
        self.conn, self.keys = conn, keys
        self._messages: dict[UUID, dict[str, str] | None] = {}
        self._pupils: dict[UUID, dict[str, str]] = {}

    async def message(self, school_id: UUID, message_id: UUID, blob: bytes | None) -> dict[str, str] | None:
        """The template {subject, body}, or None once the message is recalled (its key destroyed)."""
        if message_id not in self._messages:
            try:
                plain = await self.keys.decrypt(self.conn, school_id, "message.content", bytes(blob or b""))
                self._messages[message_id] = json.loads(plain)
            except KeyUnavailable:
                self._messages[message_id] = None
        return self._messages[message_id]

    async def merge_values(self, school_id: UUID, pupil_id: UUID | None) -> dict[str, str]:
        """The merge fields of a pupil (empty values if the pupil left the directory)."""
        if pupil_id is None:
            return render.merge_fields({})
        if pupil_id not in self._pupils:
            body = await self.conn.fetchval("SELECT body FROM dispatch.pupil WHERE pupil_id = $1", pupil_id)
            state: dict[str, Any] = json.loads(await self.keys.decrypt(
                self.conn, school_id, "directory.pupil", bytes(body))) if body is not None else {}
            self._pupils[pupil_id] = render.merge_fields(state)
        return self._pupils[pupil_id]

    async def content(self, school_id: UUID, message_id: UUID, blob: bytes | None, *, personalised: bool,
                      pupil_id: UUID | None) -> Content | None:
        """The full content for one recipient, or None if the message was recalled."""
        template = await self.message(school_id, message_id, blob)
        if template is None:
            return None
        if not personalised:
            return Content(template["subject"], template["body"])
        values = await self.merge_values(school_id, pupil_id)
        return Content(render.render(template["subject"], values), render.render(template["body"], values))
