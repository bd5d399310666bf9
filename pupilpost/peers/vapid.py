"""Verify RFC 8292 VAPID Authorization headers ("vapid t=<JWT>, k=<key>") with `cryptography`."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_LIFETIME = 24 * 3600  # RFC 8292 §2: exp no more than 24 hours ahead


class VapidError(Exception):
    """The request's VAPID credentials are refused; `status` is 401 or 403."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class VapidIdentity:
    """Who signed: the application server's public key (base64url) and its contact URI."""

    key: str
    subject: str


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    """Encode as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _params(header: str) -> dict[str, str]:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError("authorization scheme is not vapid")
    params = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            params[name.strip().lower()] = value.strip()
    if "t" not in params or "k" not in params:
        raise VapidError("vapid authorization needs t and k")
    return params


def verify_vapid(header: str | None, audience: str, now: float) -> VapidIdentity:
    """Check signature (ES256 over the JWT), audience, expiry and subject; return the signer."""
    if not header:
        raise VapidError("missing authorization")
    params = _params(header)
    try:
        head64, claims64, sig64 = params["t"].split(".")
        head, claims = json.loads(b64url_decode(head64)), json.loads(b64url_decode(claims64))
        signature, raw_key = b64url_decode(sig64), b64url_decode(params["k"])
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
    except (ValueError, binascii.Error, json.JSONDecodeError) as exc:
        raise VapidError(f"malformed vapid token ({type(exc).__name__})") from None
    if head.get("alg") != "ES256" or len(signature) != 64:
        raise VapidError("vapid token must be ES256")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, f"{head64}.{claims64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VapidError("bad vapid signature") from None
    if claims.get("aud") != audience:
        raise VapidError("vapid audience does not match this push service")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_LIFETIME:
        raise VapidError("vapid token expired or too long-lived")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.startswith(("mailto:", "https:")):
        raise VapidError("vapid subject must be a mailto: or https: URI")
    return VapidIdentity(key=b64url(raw_key), subject=subject)
