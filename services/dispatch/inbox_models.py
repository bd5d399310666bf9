"""Request bodies of the parent inbox. Errors name the field and never echo what was sent."""
from __future__ import annotations

import base64
import binascii
from typing import Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from services.dispatch import inbox_auth as ia
from services.dispatch.logic import CHANNELS, Channel


class Login(BaseModel):
    """POST /v1/inbox/login: the school and the parent's email or mobile (exactly one)."""

    school_id: UUID
    email: str | None = Field(default=None, max_length=320)
    mobile: str | None = Field(default=None, max_length=32)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalised = ia.normalise_email(value)
        if normalised is None:
            raise ValueError("is not an email address")
        return normalised

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalised = ia.normalise_mobile(value)
        if normalised is None:
            raise ValueError("is not a phone number")
        return normalised

    @model_validator(mode="after")
    def _one(self) -> Login:
        if (self.email is None) == (self.mobile is None):
            raise ValueError("email, mobile: give exactly one of them")
        return self

    def address(self) -> tuple[Literal["email", "mobile"], str]:
        """Which field was given and its normalised value."""
        return ("email", self.email) if self.email is not None else ("mobile", str(self.mobile))


class Verify(BaseModel):
    """POST /v1/inbox/verify: the login and the six-digit code that was sent."""

    login_id: UUID
    code: str = Field(pattern=r"^[0-9]{6}$", description="six digits")


def _b64url(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("is not base64url") from None


class PushKeys(BaseModel):
    """The subscription's keys (RFC 8291): the user agent's P-256 public key and auth secret."""

    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        raw = _b64url(value)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("is not an uncompressed P-256 public key")
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        if len(_b64url(value)) != 16:
            raise ValueError("is not a 16-byte auth secret")
        return value


class NewSubscription(BaseModel):
    """POST /v1/inbox/push/subscriptions: a browser's PushSubscription JSON."""

    endpoint: str = Field(max_length=2048)
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError("is not an http(s) URL")
        return value

    def stored(self) -> dict[str, object]:
        """What is kept (encrypted): exactly what a push needs."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.keys.p256dh, "auth": self.keys.auth}}


class Preferences(BaseModel):
    """PUT /v1/inbox/preferences: preferred channels and marketing consent."""

    channels: list[Channel] = Field(min_length=1, max_length=3)
    marketing_consent: bool

    def ordered(self) -> list[str]:
        """The chosen channels, once each, in the platform's order."""
        return [c for c in CHANNELS if c in self.channels]
