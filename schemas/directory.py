"""Directory events: what an MIS upload changed, with every personal field as ciphertext.

`body` values are base64 of a Pupilpost field ciphertext under the school's
personal key (field `directory.<kind>`, JSON inside): a topic dump shows no
name, email or phone, and destroying the key shreds every copy.
"""
from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.envelope import Envelope


class DirectoryChange(BaseModel):
    """One record added/changed (upsert) or removed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["pupil", "contact", "staff"]
    op: Literal["upsert", "remove"]
    record_id: UUID
    pupil_id: UUID | None = None   # the pupil a contact belongs to
    body: str | None = Field(default=None, description="base64 ciphertext; None for removals")


class DirectoryChangesV1(Envelope):
    """Part `part` of `parts` of one upload's changes, in order; one school per event."""

    type: Literal["directory.changes"] = "directory.changes"
    version: Literal[1] = 1
    school_id: UUID
    upload_id: UUID
    part: int = Field(ge=1)
    parts: int = Field(ge=1)
    changes: tuple[DirectoryChange, ...] = Field(max_length=500)


class ContactChangeRequestedV1(Envelope):
    """An upload changed a contact's email or mobile: ask the parent to confirm.

    `body` (ciphertext, field `directory.contact_change`) holds the new value and the
    one-time confirmation secret, for the channel that asks the parent.
    """

    type: Literal["directory.contact_change.requested"] = "directory.contact_change.requested"
    version: Literal[1] = 1
    school_id: UUID
    change_id: UUID
    contact_id: UUID
    field: Literal["email", "mobile"]
    body: str


class ContactChangeDecidedV1(Envelope):
    """The parent accepted or rejected a change (or a later upload superseded it)."""

    type: Literal["directory.contact_change.decided"] = "directory.contact_change.decided"
    version: Literal[1] = 1
    school_id: UUID
    change_id: UUID
    contact_id: UUID
    field: Literal["email", "mobile"]
    decision: Literal["accepted", "rejected", "superseded"]
