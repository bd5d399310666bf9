"""Parents' sign-in: one-time codes, parent tokens, inbox cursors, and the bearer check.

A parent token is `ppp.<token_id>.<secret>` (256-bit secret, base64url). Like school and
operator credentials (pupilpost/auth.py) only SHA-256 of the secret is stored. A sign-in
code is six digits, stored as SHA-256 bound to its login id, compared in constant time.
Everything above `authenticate` is pure.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import phonenumbers
from fastapi import Request

from pupilpost import db
from pupilpost.auth import unauthorised
from services.dispatch import inbox_store as ist

PREFIX = "ppp"
TOKEN_LIFETIME = timedelta(days=90)
CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
LOGIN_WINDOW = timedelta(hours=1)
LOGINS_PER_WINDOW = 5  # codes sent to one parent an hour; more are silently not sent


@dataclass(frozen=True)
class Parent:
    """A signed-in parent: one school, one person (the blind index of their address)."""

    token_id: UUID
    school_id: UUID
    person_key: bytes


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def new_token() -> tuple[UUID, str, bytes]:
    """A fresh parent token: its id, the token to hand out once, and the hash to keep."""
    token_id, secret = uuid4(), secrets.token_urlsafe(32)
    return token_id, f"{PREFIX}.{token_id}.{secret}", _sha256(secret)


def parse_token(token: str) -> tuple[UUID, str] | None:
    """Token id and secret of a well-formed parent token, else None."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[2]:
        return None
    try:
        return UUID(parts[1]), parts[2]
    except ValueError:
        return None


def secret_matches(stored_hash: bytes, secret: str) -> bool:
    """Whether `secret` is the one whose hash was stored (constant time)."""
    return hmac.compare_digest(bytes(stored_hash), _sha256(secret))


def new_code() -> str:
    """A uniformly random six-digit sign-in code."""
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(login_id: UUID, code: str) -> bytes:
    """SHA-256 of a code, bound to its login (a hash from one login says nothing of another)."""
    return _sha256(f"{login_id}:{code}")


def code_matches(stored_hash: bytes, login_id: UUID, code: str) -> bool:
    """Whether `code` is the login's code (constant time)."""
    return hmac.compare_digest(bytes(stored_hash), code_hash(login_id, code))


def login_usable(attempts: int, expires_at: datetime, used_at: datetime | None, now: datetime) -> bool:
    """A login accepts a code while unused, unexpired and short of MAX_ATTEMPTS wrong tries."""
    return used_at is None and now < expires_at and attempts < MAX_ATTEMPTS


def normalise_email(value: str) -> str | None:
    """The address as the directory indexes it (trimmed, lower-cased), or None if it is not one."""
    text = value.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text):
        return None
    return text


def normalise_mobile(value: str) -> str | None:
    """The number in E.164 (UK numbers may be written nationally), or None if it cannot be one."""
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def encode_cursor(at: datetime, delivery_id: UUID) -> str:
    """An opaque inbox position: items strictly older than (at, delivery_id) come next."""
    raw = f"{at.astimezone(UTC).isoformat()}|{delivery_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID] | None:
    """The position in a cursor from `encode_cursor`, else None."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, delivery_id = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            return None
        return when, UUID(delivery_id)
    except (ValueError, UnicodeDecodeError):
        return None


async def authenticate(pool: db.Pool, token: str, now: datetime) -> Parent | None:
    """The parent of a valid, unexpired, unrevoked token, else None."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    token_id, secret = parsed
    async with db.plain_tx(pool) as conn:
        school_id = await ist.locate(conn, token_id, "token")
    if school_id is None:
        return None
    async with db.tenant_tx(pool, school_id) as conn:
        row = await ist.load_token(conn, token_id)
    if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
        return None
    if not secret_matches(row["secret_hash"], secret):
        return None
    return Parent(token_id, school_id, bytes(row["person_key"]))


async def parent_from(request: Request, pool: db.Pool) -> Parent:
    """Authenticate a request's parent bearer token or raise 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorised("missing bearer token in the Authorization header")
    parent = await authenticate(pool, token.strip(), datetime.now(UTC))
    if parent is None:
        raise unauthorised("invalid, expired or revoked parent token")
    return parent
