"""Events about a school's lifecycle on the platform."""
from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.envelope import Envelope

ServiceName = Literal["ingest", "classifier", "dispatch", "audit", "retention"]


class SchoolCreatedV1(Envelope):
    """An operator created a school; every service provisions its per-school state."""

    type: Literal["tenancy.school.created"] = "tenancy.school.created"
    version: Literal[1] = 1
    school_id: UUID
    # A school's name and URN identify an organisation, not a person.
    name: str = Field(min_length=1, max_length=200)
    urn: str = Field(pattern=r"^[0-9]{6}$")
    created_by: UUID


class SchoolProvisionedV1(Envelope):
    """One service finished provisioning a school (one event per service)."""

    type: Literal["tenancy.school.provisioned"] = "tenancy.school.provisioned"
    version: Literal[1] = 1
    school_id: UUID
    service: ServiceName
