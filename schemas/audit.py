"""The audit.access event every service emits for each read or change of personal data."""
from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.envelope import Envelope

ActorKind = Literal["operator", "school", "parent", "service"]
Tier = Literal["basic", "intermediate", "administrator"]
Action = Literal["read", "create", "update", "delete", "export", "approve", "recall"]


class AccessV1(Envelope):
    """Who touched which resource of which school, why, and in which trace.

    Carries identifiers only (UUIDs and resource paths), never personal values.
    """

    type: Literal["audit.access"] = "audit.access"
    version: Literal[1] = 1
    actor_id: UUID | None
    actor_kind: ActorKind
    tier: Tier | None = None
    service: str
    resource: str = Field(max_length=300)
    action: Action
    purpose: str = Field(max_length=200)
    outcome: Literal["allowed", "denied"] = "allowed"
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
