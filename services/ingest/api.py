"""Ingest's HTTP routes: the operator's school registry and credentials, a school's own profile."""

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, field_validator

from pupilpost import access, auth, db, tenancy
from pupilpost.auth import Principal
from pupilpost.runner import Service
from pupilpost.settings import SERVICES
from schemas.auth import CredentialRevokedV1
from schemas.tenancy import SchoolCreatedV1
from services.ingest import store


class NewSchool(BaseModel):
    """POST /v1/ops/schools body."""

    name: str = Field(min_length=1, max_length=200)
    urn: str = Field(description="DfE Unique Reference Number, six digits")

    @field_validator("urn")
    @classmethod
    def _urn(cls, v: str) -> str:
        if not tenancy.valid_urn(v.strip()):
            raise ValueError("a URN is six digits, not starting with 0")
        return v.strip()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = tenancy.normalise_school_name(v)
        if not v:
            raise ValueError("name must not be blank")
        return v


class NewOperator(BaseModel):
    """POST /v1/ops/operators body."""

    tier: Literal["basic", "intermediate", "administrator"]
    label: str = Field(default="", max_length=100)
    payments: bool = False


class NewApiKey(BaseModel):
    """POST /v1/ops/schools/{id}/api-keys body."""

    label: str = Field(default="", max_length=100)
    permissions: tuple[Literal[auth.SCHOOL_PERMISSIONS], ...] = auth.SCHOOL_PERMISSIONS  # type: ignore[valid-type]


def router(svc: Service) -> APIRouter:
    """The ingest routes bound to a running service."""
    r = APIRouter()
    Caller = Annotated[Principal, Depends(svc.principal)]

    @r.post("/v1/ops/schools", status_code=201)
    async def create_school(body: NewSchool, who: Caller) -> dict:
        auth.require_tier(who, "administrator")
        school_id = uuid4()
        token, issued = auth.new_credential("school", school_id=school_id, label="first key",
                                            permissions=auth.SCHOOL_PERMISSIONS)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            if not await store.insert_school(conn, school_id, body.name, body.urn, who.credential_id):
                raise HTTPException(409, detail="urn: a school with this URN already exists")
            await svc.keys().provision_school(conn, school_id)
            await auth.save_credential(conn, svc.schema, issued)
            created = SchoolCreatedV1(school_id=school_id, name=body.name, urn=body.urn,
                                      created_by=who.credential_id)
            await svc.outbox.add(conn, created, issued)
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource=f"school/{school_id}", action="create", purpose="onboard school")
        return {"school_id": school_id, "name": body.name, "urn": body.urn, "status": "active",
                "api_key": token, "api_key_id": issued.credential_id, "created_at": created.occurred_at}

    @r.get("/v1/ops/schools")
    async def list_schools(who: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                           after: UUID | None = None) -> dict:
        auth.require_tier(who, "basic")
        async with db.operator_tx(svc.db()) as conn:
            items = await store.list_schools(conn, limit, after)
            await access.record(conn, svc.outbox, svc.name, who, school_id=None, resource="schools",
                                action="read", purpose="operations")
        nxt = items[-1]["school_id"] if len(items) == limit else None
        return {"items": items, "next": nxt}

    @r.get("/v1/ops/schools/{school_id}")
    async def school_status(school_id: UUID, who: Caller) -> dict:
        auth.require_tier(who, "basic")
        return await _read_school(svc, who, school_id, purpose="operations")

    @r.get("/v1/schools/{school_id}")
    async def school_profile(school_id: UUID, who: Caller) -> dict:
        auth.require_school(who, school_id)
        return await _read_school(svc, who, school_id, purpose="school profile")

    @r.post("/v1/ops/schools/{school_id}/api-keys", status_code=201)
    async def issue_api_key(school_id: UUID, body: NewApiKey, who: Caller) -> dict:
        auth.require_tier(who, "administrator")
        token, issued = auth.new_credential("school", school_id=school_id, label=body.label,
                                            permissions=tuple(dict.fromkeys(body.permissions)))
        async with db.tenant_tx(svc.db(), school_id) as conn:
            if await store.load_school(conn, school_id) is None:
                raise HTTPException(404, detail="school not found")
            await auth.save_credential(conn, svc.schema, issued)
            await svc.outbox.add(conn, issued)
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource=f"school/{school_id}/api-keys", action="create", purpose="issue api key")
        return {"api_key": token, "api_key_id": issued.credential_id, "permissions": issued.permissions}

    @r.post("/v1/ops/operators", status_code=201)
    async def create_operator(body: NewOperator, who: Caller) -> dict:
        auth.require_tier(who, "administrator")
        perms = (auth.PAYMENTS,) if body.payments else ()
        token, issued = auth.new_credential("operator", tier=body.tier, permissions=perms, label=body.label)
        async with db.operator_tx(svc.db()) as conn:
            await auth.save_credential(conn, svc.schema, issued)
            await svc.outbox.add(conn, issued)
        return {"token": token, "credential_id": issued.credential_id, "tier": body.tier,
                "permissions": list(perms)}

    @r.delete("/v1/ops/credentials/{credential_id}", status_code=204)
    async def revoke(credential_id: UUID, who: Caller) -> None:
        auth.require_tier(who, "administrator")
        async with db.operator_tx(svc.db()) as conn:
            found = await store.credential_exists(conn, credential_id)
            if found is None:
                raise HTTPException(404, detail="credential not found")
            evt = CredentialRevokedV1(school_id=found["school_id"], credential_id=credential_id,
                                      revoked_at=datetime.now(UTC))
            await auth.revoke_credential(conn, svc.schema, evt)
            await svc.outbox.add(conn, evt)

    return r


async def _read_school(svc: Service, who: Principal, school_id: UUID, *, purpose: str) -> dict:
    async with db.tenant_tx(svc.db(), school_id) as conn:
        school = await store.load_school(conn, school_id)
        if school is None:
            raise HTTPException(404, detail="school not found")
        await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                            resource=f"school/{school_id}", action="read", purpose=purpose)
    school["provisioned"] = all(s in school["services"] for s in SERVICES)
    school["status"] = "active"
    return school
