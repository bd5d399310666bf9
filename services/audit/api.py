"""Audit's HTTP routes: read and verify the access log (administrators)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from pupilpost import access, auth, db
from pupilpost.auth import Principal
from pupilpost.runner import Service
from services.audit import logic, store


def router(svc: Service) -> APIRouter:
    """The audit routes bound to a running service."""
    r = APIRouter()
    Caller = Annotated[Principal, Depends(svc.principal)]

    @r.get("/v1/ops/audit")
    async def read_log(who: Caller, school_id: UUID | None = None,
                       after_seq: Annotated[int, Query(ge=0)] = 0,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
        auth.require_tier(who, "administrator")
        async with db.operator_tx(svc.db()) as conn:
            items = await store.page(conn, logic.chain_of(school_id), after_seq, limit)
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource=f"audit/{logic.chain_of(school_id)}", action="read",
                                purpose="audit review")
        for item in items:
            item["prev_hash"], item["hash"] = bytes(item["prev_hash"]).hex(), bytes(item["hash"]).hex()
        return {"items": items, "next_after_seq": items[-1]["seq"] if len(items) == limit else None}

    @r.get("/v1/ops/audit/verify")
    async def verify(who: Caller, school_id: UUID | None = None) -> dict:
        auth.require_tier(who, "administrator")
        chain, checked, prev, broken = logic.chain_of(school_id), 0, logic.GENESIS, None
        async with db.operator_tx(svc.db()) as conn:
            while broken is None:
                batch = await store.page(conn, chain, checked, 5000)
                if not batch:
                    break
                broken = logic.first_break(batch, prev, checked + 1)
                checked, prev = checked + len(batch), bytes(batch[-1]["hash"])
        return {"chain": chain, "records": checked, "valid": broken is None, "first_broken_seq": broken}

    return r
