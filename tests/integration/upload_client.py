"""Sending MIS uploads to ingest as the extractor does, with knobs to break each safeguard."""
from __future__ import annotations

import base64
import gzip
import secrets
import time
from datetime import UTC, date, datetime
from uuid import UUID

import httpx

from pupilpost import auth, crypto
from pupilpost.mis.roster import ContactRecord, PupilRecord, Roster, StaffRecord


def roster(urn: str, pupils: int = 3, *, email_of=None, extra_contacts=(), staff: int = 1) -> Roster:
    """A small, valid roster: each pupil with a mother (priority 1) and a father (priority 2)."""
    ps, cs = [], []
    for i in range(pupils):
        ref = f"A{i:04d}"
        ps.append(PupilRecord(ref=ref, admission_number=ref, legal_forename=f"Pupil{i}", legal_surname="Testwell",
                              gender="F", date_of_birth=date(2016, 1 + i % 12, 1 + i % 28), year_group="4",
                              reg_group="4B" if i % 2 else "4A", source_row=i + 2))
        for n, rel in ((1, "Mother"), (2, "Father")):
            email = (email_of or (lambda i, n: f"parent{i}-{n}@example.org"))(i, n)
            cs.append(ContactRecord(pupil_ref=ref, ref=str(n), forename=f"Parent{i}{n}", surname="Testwell",
                                    relationship=rel, parental_responsibility=True, priority=n, email=email,
                                    mobile=f"+4477009{i:03d}{n:02d}"[:13], source_row=i + 2))
    cs.extend(extra_contacts)
    st = [StaffRecord(ref=f"S{i}", forename=f"Staff{i}", surname="Teacher", email=f"staff{i}@school.example.org",
                      role="Teacher") for i in range(staff)]
    return Roster(school_urn=urn, source="csv", generated_at=datetime.now(UTC), pupils=tuple(ps),
                  contacts=tuple(cs), staff=tuple(st))


async def upload_key(client: httpx.AsyncClient) -> tuple[UUID, bytes]:
    """The platform's current upload key."""
    r = await client.get("/v1/upload-key")
    assert r.status_code == 200, r.text
    return UUID(r.json()["key_id"]), base64.b64decode(r.json()["public_key"])


async def send(client: httpx.AsyncClient, api_key: str, school_id: UUID, payload: Roster | bytes, *,
               key: tuple[UUID, bytes] | None = None, timestamp: int | None = None, nonce: str | None = None,
               tamper: bool = False, sign_with: str | None = None, raw: bytes | None = None) -> httpx.Response:
    """Seal, sign and POST an upload; each keyword breaks one thing for bad-input tests."""
    key_id, public = key or await upload_key(client)
    plain = payload.model_dump_json().encode() if isinstance(payload, Roster) else payload
    body = raw if raw is not None else crypto.seal_upload(public, key_id, school_id, gzip.compress(plain))
    if tamper:
        body = body[:-5] + bytes([body[-5] ^ 0x40]) + body[-4:]
    ts = timestamp if timestamp is not None else int(time.time())
    nonce = nonce or secrets.token_hex(16)
    secret = auth.parse_token(sign_with or api_key)[1]
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/octet-stream",
               "x-pupilpost-timestamp": str(ts), "x-pupilpost-nonce": nonce,
               "x-pupilpost-signature": crypto.sign_upload(secret, timestamp=ts, nonce=nonce, body=body)}
    return await client.post("/v1/uploads", content=body, headers=headers)
