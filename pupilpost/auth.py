"""Authentication and authorisation for every HTTP-serving service.

Credentials are bearer tokens `pp<k>.<credential id>.<secret>` (k = s for a
school API key, o for an operator). Only SHA-256 of the 256-bit secret is
stored, in each service's `credential` projection (fed by auth.credentials
events), so any service can check any credential without reading another's
tables. Operator tiers are ordered basic < intermediate < administrator;
payments access is a separate permission.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID, uuid4

from fastapi import HTTPException, Request

from pupilpost import db
from schemas.auth import CredentialIssuedV1, CredentialRevokedV1

TIERS = ("basic", "intermediate", "administrator")
PAYMENTS = "payments"
# What a school API key may do. A school's first key has them all; later keys are scoped.
SCHOOL_PERMISSIONS = ("upload", "directory.read", "directory.reveal", "messages", PAYMENTS)
_PREFIX = {"school": "pps", "operator": "ppo"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a school (API key) or an operator staff member (token)."""

    credential_id: UUID
    kind: Literal["school", "operator"]
    school_id: UUID | None = None
    tier: str | None = None
    permissions: frozenset[str] = frozenset()

    def at_least(self, tier: str) -> bool:
        """Whether an operator's tier reaches `tier`."""
        return self.kind == "operator" and TIERS.index(self.tier or "basic") >= TIERS.index(tier)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_credential(kind: Literal["school", "operator"], *, school_id: UUID | None = None,
                   tier: str | None = None, permissions: tuple[str, ...] = (),
                   label: str = "") -> tuple[str, CredentialIssuedV1]:
    """A fresh token (to show once) and the event that registers its hash."""
    if kind == "operator" and tier not in TIERS:
        raise ValueError("operator credentials need a tier")
    credential_id, secret = uuid4(), base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    token = f"{_PREFIX[kind]}.{credential_id}.{secret}"
    event = CredentialIssuedV1(
        school_id=school_id, credential_id=credential_id, kind=kind, tier=tier,
        permissions=permissions, secret_hash=_hash(secret), label=label, issued_at=datetime.now(UTC))
    return token, event


def parse_token(token: str) -> tuple[UUID, str] | None:
    """Credential id and secret of a well-formed token, else None."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] not in _PREFIX.values():
        return None
    try:
        return UUID(parts[1]), parts[2]
    except ValueError:
        return None


async def save_credential(conn: db.Conn, schema: str, evt: CredentialIssuedV1) -> None:
    """Project an issued credential (idempotent)."""
    await conn.execute(
        f"INSERT INTO {schema}.credential (credential_id, kind, school_id, tier, permissions,"
        " secret_hash, label, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (credential_id) DO NOTHING",
        evt.credential_id, evt.kind, evt.school_id, evt.tier, list(evt.permissions),
        bytes.fromhex(evt.secret_hash), evt.label, evt.issued_at)


async def revoke_credential(conn: db.Conn, schema: str, evt: CredentialRevokedV1) -> None:
    """Project a revocation."""
    await conn.execute(
        f"UPDATE {schema}.credential SET revoked_at = $2 WHERE credential_id = $1 AND revoked_at IS NULL",
        evt.credential_id, evt.revoked_at)


async def verify(pool: db.Pool, schema: str, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token, else None (constant-time compare)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    credential_id, secret = parsed
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT kind, school_id, tier, permissions, secret_hash FROM {schema}.credential"
            " WHERE credential_id = $1 AND revoked_at IS NULL", credential_id)
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), bytes.fromhex(_hash(secret))):
        return None
    return Principal(credential_id, row["kind"], row["school_id"], row["tier"], frozenset(row["permissions"]))


def unauthorised(reason: str) -> HTTPException:
    """401 with a reason and the bearer challenge."""
    return HTTPException(401, detail=reason, headers={"WWW-Authenticate": "Bearer"})


async def principal_from(request: Request, pool: db.Pool, schema: str) -> Principal:
    """Authenticate a request's bearer token or raise 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorised("missing bearer credential in the Authorization header")
    principal = await verify(pool, schema, token.strip())
    if principal is None:
        raise unauthorised("invalid or revoked credential")
    return principal


def require_tier(principal: Principal, tier: str) -> None:
    """403 unless the caller is an operator of at least `tier`."""
    if principal.kind != "operator":
        raise HTTPException(403, detail="operator credential required")
    if not principal.at_least(tier):
        raise HTTPException(403, detail=f"operator tier '{tier}' or higher required")


def require_school(principal: Principal, school_id: UUID, *, operator_tier: str = "basic") -> None:
    """Allow the school itself or an operator of `operator_tier`; another school gets 404."""
    if principal.kind == "school":
        if principal.school_id != school_id:
            raise HTTPException(404, detail="school not found")
        return
    require_tier(principal, operator_tier)


def require_permission(principal: Principal, school_id: UUID, permission: str) -> None:
    """The school itself holding `permission` (404 for another school, 403 without it).

    Operators reach a school's data only through the operator API, never these routes.
    """
    if principal.kind != "school":
        raise HTTPException(403, detail="a school API key is required")
    if principal.school_id != school_id:
        raise HTTPException(404, detail="school not found")
    if permission not in principal.permissions:
        raise HTTPException(403, detail=f"this API key lacks the '{permission}' permission")
