"""Credential events: ingest issues credentials, every HTTP-serving service keeps a projection."""
from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from schemas.audit import Tier
from schemas.envelope import Envelope


class CredentialIssuedV1(Envelope):
    """A school API key or an operator token was issued.

    Carries only the SHA-256 of a 256-bit random secret, which cannot be reversed.
    """

    type: Literal["auth.credential.issued"] = "auth.credential.issued"
    version: Literal[1] = 1
    credential_id: UUID
    kind: Literal["school", "operator"]
    tier: Tier | None = None
    permissions: tuple[str, ...] = ()
    secret_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    label: str = Field(default="", max_length=100)
    issued_at: AwareDatetime


class CredentialRevokedV1(Envelope):
    """A credential was revoked; it stops working in every service."""

    type: Literal["auth.credential.revoked"] = "auth.credential.revoked"
    version: Literal[1] = 1
    credential_id: UUID
    revoked_at: AwareDatetime

