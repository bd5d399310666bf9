"""Upload routes: the platform's upload key, and encrypted, signed MIS uploads."""
import base64
import re
import time
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Request

from pupilpost import access, auth, crypto, db
from pupilpost.auth import Principal
from pupilpost.runner import Service
from services.ingest import directory_store as ds
from services.ingest.importer import Importer
from services.ingest.settings import IngestSettings

ALGORITHM = "X25519-HKDF-SHA256-AES256GCM"
_NONCE = re.compile(r"^[0-9a-f]{16,64}$")


def router(svc: Service, importer: Importer) -> APIRouter:
    """The upload routes bound to a running service."""
    r = APIRouter()
    Caller = Annotated[Principal, Depends(svc.principal)]
    settings: IngestSettings = svc.settings  # type: ignore[assignment]

    @r.get("/v1/upload-key")
    async def upload_key(_: Caller) -> dict:
        async with db.operator_tx(svc.db()) as conn:
            key = await ds.current_upload_key(conn)
        if key is None:
            raise HTTPException(503, detail="no upload key yet: an operator must run `pupilpost keys rotate`")
        return _key_view(key)

    @r.post("/v1/ops/upload-keys", status_code=201)
    async def rotate_upload_key(who: Caller) -> dict:
        auth.require_tier(who, "administrator")
        async with db.operator_tx(svc.db()) as conn:
            key = await rotate(conn, svc)
            await access.record(conn, svc.outbox, svc.name, who, school_id=None, resource="upload-keys",
                                action="create", purpose="rotate upload key")
        return key

    @r.post("/v1/uploads", status_code=202)
    async def upload(request: Request, who: Caller) -> dict:
        school_id = who.school_id
        if school_id is None:
            raise HTTPException(403, detail="a school API key is required")
        auth.require_permission(who, school_id, "upload")
        signed_at, nonce, signature = _signed_headers(request, settings.upload_clock_skew_seconds)
        body = await _read_capped(request, settings.max_upload_bytes)
        secret = auth.parse_token(request.headers["authorization"].split(" ", 1)[1].strip())[1]  # type: ignore[index]
        if not crypto.verify_upload_signature(secret, timestamp=signed_at, nonce=nonce, body=body,
                                              signature=signature):
            raise HTTPException(401, detail="X-Pupilpost-Signature does not match the body, timestamp and nonce")
        upload_id = uuid4()
        async with db.tenant_tx(svc.db(), school_id) as conn:
            compressed = await _open(conn, svc, school_id, body, settings.upload_key_grace_hours)
            stored = await svc.keys().encrypt(conn, school_id, "upload.payload", compressed)
            when = datetime.fromtimestamp(signed_at, UTC)
            if not await ds.queue_upload(conn, upload_id, school_id, who.credential_id, nonce, when,
                                         len(body), stored):
                raise HTTPException(409, detail="X-Pupilpost-Nonce was used before: a replayed upload is refused")
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource=f"uploads/{upload_id}", action="create", purpose="MIS upload")
        importer.wake()
        return {"upload_id": upload_id, "status": "queued"}

    @r.get("/v1/uploads/{upload_id}")
    async def upload_status(upload_id: UUID, who: Caller) -> dict:
        school_id = _school_of(who)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            found = await ds.load_upload(conn, upload_id)
            if found is None:
                raise HTTPException(404, detail="upload not found")
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource=f"uploads/{upload_id}", action="read", purpose="upload status")
        found.pop("school_id")
        return found

    @r.get("/v1/uploads")
    async def uploads(who: Caller, limit: int = 20) -> dict:
        school_id = _school_of(who)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            items = await ds.list_uploads(conn, max(1, min(limit, 200)))
        return {"items": items}

    return r


def _school_of(who: Principal) -> UUID:
    if who.kind != "school" or who.school_id is None:
        raise HTTPException(403, detail="a school API key is required")
    return who.school_id


def _key_view(key: dict) -> dict:
    return {"key_id": key["key_id"], "public_key": base64.b64encode(bytes(key["public_key"])).decode(),
            "algorithm": ALGORITHM, "created_at": key["created_at"]}


async def rotate(conn: db.Conn, svc: Service) -> dict:
    """A new upload key pair becomes current; the old one still opens uploads for a grace period."""
    key_id = uuid4()
    private, public = crypto.generate_upload_keypair()
    created = await ds.save_upload_key(conn, key_id, public, svc.keys().wrap_upload_key(key_id, private))
    return _key_view({"key_id": key_id, "public_key": public, "created_at": created})


async def ensure_upload_key(svc: Service) -> None:
    """On start: make sure extractors have a key to encrypt to."""
    async with db.operator_tx(svc.db()) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ingest:upload-key'))")
        if await ds.current_upload_key(conn) is None:
            await rotate(conn, svc)


def _signed_headers(request: Request, skew: int) -> tuple[int, str, str]:
    h = request.headers
    for name in ("x-pupilpost-timestamp", "x-pupilpost-nonce", "x-pupilpost-signature"):
        if not h.get(name):
            raise HTTPException(400, detail=f"{name}: header is required")
    try:
        signed_at = int(h["x-pupilpost-timestamp"])
    except ValueError:
        raise HTTPException(400, detail="x-pupilpost-timestamp: unix seconds expected") from None
    if abs(time.time() - signed_at) > skew:
        raise HTTPException(401, detail=f"x-pupilpost-timestamp: more than {skew} s from the server's clock")
    if not _NONCE.match(h["x-pupilpost-nonce"]):
        raise HTTPException(400, detail="x-pupilpost-nonce: 16 to 64 lower-case hex characters expected")
    return signed_at, h["x-pupilpost-nonce"], h["x-pupilpost-signature"]


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, refused early (413) when it is, or declares itself, larger than `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=f"upload larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail=f"upload larger than {limit} bytes")
        chunks.append(chunk)
    if not size:
        raise HTTPException(400, detail="body: the upload is empty")
    return b"".join(chunks)


async def _open(conn: db.Conn, svc: Service, school_id: UUID, body: bytes, grace_hours: int) -> bytes:
    """Decrypt the sealed upload to the platform key; the gzip inside is checked by the importer."""
    try:
        key_id = crypto.upload_key_id(body)
    except crypto.CryptoError:
        raise HTTPException(400, detail="body: not a sealed Pupilpost upload") from None
    wrapped = await ds.usable_private_key(conn, key_id, grace_hours)  # platform-wide table, no RLS
    if wrapped is None:
        raise HTTPException(400, detail="body: encrypted to an unknown or expired upload key; fetch"
                                        " /v1/upload-key again")
    try:
        plain = crypto.open_upload(svc.keys().unwrap_upload_key(key_id, bytes(wrapped)), school_id, body)
    except crypto.CryptoError:
        raise HTTPException(400, detail="body: cannot be decrypted (altered, or sealed for another school)") from None
    if plain[:2] != b"\x1f\x8b":
        raise HTTPException(400, detail="body: the sealed payload is not gzip")
    return plain

