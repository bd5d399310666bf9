"""All cryptography in Pupilpost. Nothing else touches key material.

Envelope encryption: a master key (KEK) from configuration wraps per-school
data keys (families `personal` and `transactional`); per-message keys are
wrapped by the school's personal key, so destroying either shreds the message.
Ciphertext format (bytes):

    version (1) | key_id (16) | nonce (12) | AES-256-GCM ciphertext+tag

The associated data binds a ciphertext to its school and field, so a value
moved to another school's row or another column fails to decrypt.

MIS uploads (school-side extractor -> ingest) use hybrid encryption to the
platform's X25519 upload key, in a format with its own version byte:

    version 0x02 (1) | key_id (16) | ephemeral public (32) | nonce (12) | AES-256-GCM ciphertext+tag

and are signed with an HMAC keyed by the school's API key secret.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
_HEADER = 1 + 16 + 12
FAMILIES = ("personal", "transactional")


class CryptoError(Exception):
    """Base class: decryption or key problems. Messages never contain key or plaintext."""

    safe_message = True


class KeyUnavailable(CryptoError):
    """The key id is unknown here, or the key was destroyed."""


class TamperedCiphertext(CryptoError):
    """Authentication failed: wrong key, wrong school/field binding, or altered bytes."""


class MasterKeyMissing(CryptoError):
    """No KEK configured (refused in production)."""


def _aad(school_id: UUID, field: str, key_id: UUID) -> bytes:
    # The header (version, key id) is authenticated too: no byte of a ciphertext is malleable.
    return f"pupilpost:v{VERSION}:{key_id}:{school_id}:{field}".encode()


@functools.lru_cache(maxsize=1024)
def _aead(key: bytes) -> AESGCM:
    # The key schedule costs more than sealing a short field; `Keyring.forget` empties this cache.
    return AESGCM(key)


def seal(key: bytes, key_id: UUID, school_id: UUID, field: str, plaintext: bytes) -> bytes:
    """Encrypt `plaintext` under `key`, bound to `school_id` and `field`."""
    nonce = os.urandom(12)
    ct = _aead(key).encrypt(nonce, plaintext, _aad(school_id, field, key_id))
    return bytes([VERSION]) + key_id.bytes + nonce + ct


def seal_many(key: bytes, key_id: UUID, school_id: UUID, field: str, plaintexts: Iterable[bytes]) -> list[bytes]:
    """`seal` each of `plaintexts` (one field's values), building the associated data once."""
    aead, aad, head = _aead(key), _aad(school_id, field, key_id), bytes([VERSION]) + key_id.bytes
    out = []
    for plaintext in plaintexts:
        nonce = os.urandom(12)  # a fresh random nonce for every value, as `seal`
        out.append(head + nonce + aead.encrypt(nonce, plaintext, aad))
    return out


def key_id_of(blob: bytes) -> UUID:
    """The key id a ciphertext was sealed with."""
    if len(blob) < _HEADER + 16 or blob[0] != VERSION:
        raise TamperedCiphertext("ciphertext is malformed or of an unknown version")
    return UUID(bytes=bytes(blob[1:17]))


def unseal(key: bytes, school_id: UUID, field: str, blob: bytes) -> bytes:
    """Decrypt a `seal` result; raises TamperedCiphertext if anything was changed."""
    key_id = key_id_of(blob)
    try:
        return _aead(key).decrypt(bytes(blob[17:29]), bytes(blob[29:]), _aad(school_id, field, key_id))
    except InvalidTag as exc:
        raise TamperedCiphertext("ciphertext failed authentication") from exc


def _wrap_aad(school_id: UUID, purpose: str, key_id: UUID) -> bytes:
    return f"pupilpost:wrap:{school_id}:{purpose}:{key_id}".encode()


def wrap(kek: bytes, school_id: UUID, purpose: str, key_id: UUID, dek: bytes) -> bytes:
    """Wrap a data key under a key-encryption key."""
    nonce = os.urandom(12)
    return nonce + AESGCM(kek).encrypt(nonce, dek, _wrap_aad(school_id, purpose, key_id))


def unwrap(kek: bytes, school_id: UUID, purpose: str, key_id: UUID, wrapped: bytes) -> bytes:
    """Unwrap a data key; a wrong KEK or a moved row fails."""
    try:
        return AESGCM(kek).decrypt(bytes(wrapped[:12]), bytes(wrapped[12:]), _wrap_aad(school_id, purpose, key_id))
    except InvalidTag as exc:
        raise TamperedCiphertext("wrapped key failed authentication") from exc


def blind_index(index_key: bytes, field: str, normalised: str) -> bytes:
    """Keyed HMAC of a normalised value: equality lookups without plaintext."""
    return hmac.digest(index_key, f"{field}\x00{normalised}".encode(), "sha256")  # = hmac.new(...).digest()


class BlindIndexer:
    """`blind_index` under one key, for many values: the HMAC key pads are hashed once.

    HMAC-SHA256 as RFC 2104 defines it (and `hmac` computes it), with the two padded-key
    states kept and copied per value instead of rebuilt: the same bytes, in less than half the time.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, index_key: bytes) -> None:
        key = (hashlib.sha256(index_key).digest() if len(index_key) > 64 else index_key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, field: str, normalised: str) -> bytes:
        """blind_index(index_key, field, normalised)."""
        inner = self._inner.copy()
        inner.update(f"{field}\x00{normalised}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def derive_index_key(personal_key: bytes) -> bytes:
    """The blind-index key is derived from the personal key, so it dies with it."""
    return HKDF(SHA256(), 32, salt=None, info=b"pupilpost blind index v1").derive(personal_key)


def load_master_key(value: str | None, path: Path | None, *, development: bool) -> bytes:
    """The KEK from configuration (base64), a key file, or (development only) a generated file."""
    if value:
        return _decode_kek(value)
    if path is not None and path.exists():
        return _decode_kek(path.read_text().strip())
    if not development:
        raise MasterKeyMissing(
            "no master key: set PUPILPOST_MASTER_KEY (base64 of 32 bytes) or PUPILPOST_MASTER_KEY_FILE")
    if path is None:
        raise MasterKeyMissing("development mode needs PUPILPOST_MASTER_KEY_FILE to keep a generated key")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(os.urandom(32)).decode())
    return _decode_kek(path.read_text().strip())


def _decode_kek(text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise MasterKeyMissing("master key is not valid base64") from exc
    if len(key) != 32:
        raise MasterKeyMissing("master key must be 32 bytes (AES-256)")
    return key


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key, held only in memory."""

    key_id: UUID
    school_id: UUID
    purpose: str
    material: bytes


class Keyring:
    """Per-school and per-message keys, stored wrapped in the `keyring` schema.

    Methods take the caller's connection so key reads and writes join the
    caller's transaction and its school context (row-level security).
    Unwrapped keys are cached in memory for `cache_seconds`; `forget` drops them.
    """

    def __init__(self, kek: bytes, cache_seconds: float = 30.0) -> None:
        self._kek = kek
        self._ttl = cache_seconds
        self._cache: dict[UUID, tuple[float, DataKey]] = {}
        self._family: dict[tuple[UUID, str], UUID] = {}
        self._index_keys: dict[UUID, bytes] = {}

    async def provision_school(self, conn, school_id: UUID) -> dict[str, UUID]:
        """Create the school's personal and transactional keys if missing; return their ids."""
        ids = {}
        for family in FAMILIES:
            ids[family] = await self._ensure(conn, school_id, family, None, None)
        return ids

    async def create_message_key(self, conn, school_id: UUID, message_id: UUID) -> UUID:
        """A fresh key for one message, wrapped by the school's personal key."""
        parent = await self.family_key(conn, school_id, "personal")
        return await self._ensure(conn, school_id, "message", message_id, parent)

    async def _ensure(self, conn, school_id, purpose, subject_id, parent: DataKey | None) -> UUID:
        key_id, dek = uuid4(), AESGCM.generate_key(bit_length=256)
        wrapper = parent.material if parent else self._kek
        wrapped = wrap(wrapper, school_id, purpose, key_id, dek)
        row = await conn.fetchrow(
            "INSERT INTO keyring.data_key (key_id, school_id, purpose, subject_id, parent_key_id, wrapped)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING key_id",
            key_id, school_id, purpose, subject_id, parent.key_id if parent else None, wrapped)
        if row is not None:
            return key_id
        existing = await conn.fetchval(
            "SELECT key_id FROM keyring.data_key WHERE school_id = $1 AND purpose = $2"
            " AND subject_id IS NOT DISTINCT FROM $3", school_id, purpose, subject_id)
        if existing is None:
            raise KeyUnavailable(f"no {purpose} key for school {school_id}")
        return existing

    async def family_key(self, conn, school_id: UUID, family: str) -> DataKey:
        """The school's live key of a family (personal / transactional)."""
        key_id = self._family.get((school_id, family))
        if key_id is None:
            key_id = await conn.fetchval(
                "SELECT key_id FROM keyring.data_key WHERE school_id = $1 AND purpose = $2",
                school_id, family)
            if key_id is None:
                raise KeyUnavailable(f"school {school_id} has no {family} key")
            self._family[(school_id, family)] = key_id
        return await self.key(conn, key_id)

    async def message_key(self, conn, school_id: UUID, message_id: UUID) -> DataKey:
        """The key of one message."""
        key_id = await conn.fetchval(
            "SELECT key_id FROM keyring.data_key WHERE school_id = $1 AND purpose = 'message'"
            " AND subject_id = $2", school_id, message_id)
        if key_id is None:
            raise KeyUnavailable(f"message {message_id} has no key")
        return await self.key(conn, key_id)

    async def key(self, conn, key_id: UUID) -> DataKey:
        """Unwrap a key by id (through its parents), using the in-memory cache."""
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        row = await conn.fetchrow(
            "SELECT school_id, purpose, parent_key_id, wrapped FROM keyring.data_key WHERE key_id = $1",
            key_id)
        if row is None or row["wrapped"] is None:
            raise KeyUnavailable(f"key {key_id} is unknown or destroyed")
        wrapper = self._kek
        if row["parent_key_id"] is not None:
            wrapper = (await self.key(conn, row["parent_key_id"])).material
        material = unwrap(wrapper, row["school_id"], row["purpose"], key_id, row["wrapped"])
        data_key = DataKey(key_id, row["school_id"], row["purpose"], material)
        self._cache[key_id] = (time.monotonic() + self._ttl, data_key)
        return data_key

    async def encrypt(self, conn, school_id: UUID, field: str, plaintext: str | bytes,
                      *, family: str = "personal") -> bytes:
        """Encrypt a field under the school's key of `family`."""
        key = await self.family_key(conn, school_id, family)
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return seal(key.material, key.key_id, school_id, field, data)

    async def encrypt_with(self, key: DataKey, field: str, plaintext: str | bytes) -> bytes:
        """Encrypt under an already-loaded key (e.g. a message key)."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return seal(key.material, key.key_id, key.school_id, field, data)

    def encrypt_many(self, key: DataKey, field: str, plaintexts: Iterable[str | bytes]) -> list[bytes]:
        """Encrypt many values of one field under an already-loaded key, in order."""
        return seal_many(key.material, key.key_id, key.school_id, field,
                         (p.encode() if isinstance(p, str) else p for p in plaintexts))

    async def decrypt(self, conn, school_id: UUID, field: str, blob: bytes) -> bytes:
        """Decrypt a field; KeyUnavailable if its key is gone, TamperedCiphertext if altered."""
        key = await self.key(conn, key_id_of(blob))
        if key.school_id != school_id:
            raise TamperedCiphertext("ciphertext belongs to another school")
        return unseal(key.material, school_id, field, blob)

    async def index(self, conn, school_id: UUID, field: str, normalised: str) -> bytes:
        """Blind index of a normalised value under the school's personal key."""
        return blind_index(await self.index_key(conn, school_id), field, normalised)

    async def destroy(self, conn, school_id: UUID, *, purpose: str, subject_id: UUID | None = None) -> int:
        """Crypto-shred: erase the wrapped key(s). Returns how many keys were destroyed."""
        rows = await conn.fetch(
            "UPDATE keyring.data_key SET wrapped = NULL, destroyed_at = now()"
            " WHERE school_id = $1 AND purpose = $2 AND subject_id IS NOT DISTINCT FROM $3"
            " AND wrapped IS NOT NULL RETURNING key_id", school_id, purpose, subject_id)
        self.forget(school_id)
        return len(rows)

    def wrap_upload_key(self, key_id: UUID, private: bytes) -> bytes:
        """Wrap an upload private key under the KEK, for storage."""
        return wrap_private_key(self._kek, key_id, private)

    def unwrap_upload_key(self, key_id: UUID, wrapped: bytes) -> bytes:
        """Unwrap a stored upload private key."""
        return unwrap_private_key(self._kek, key_id, wrapped)

    async def index_key(self, conn, school_id: UUID) -> bytes:
        """The school's blind-index key, for many indexes at once (see `blind_index`)."""
        key = await self.family_key(conn, school_id, "personal")
        cached = self._index_keys.get(key.key_id)
        if cached is None:
            cached = self._index_keys[key.key_id] = derive_index_key(key.material)
        return cached

    def forget(self, school_id: UUID | None = None) -> None:
        """Drop cached keys (of one school, or all)."""
        for key_id, (_, key) in list(self._cache.items()):
            if school_id is None or key.school_id == school_id:
                del self._cache[key_id]
        for k in [k for k in self._family if school_id is None or k[0] == school_id]:
            del self._family[k]
        self._index_keys.clear()
        _aead.cache_clear()


# --- MIS uploads: hybrid encryption to the platform's upload key, signed by the school ---
#
# seal/open are byte-exact: callers compress (gzip) the roster JSON BEFORE sealing,
# since ciphertext does not compress. Compression happens in the extractor / ingest.

UPLOAD_VERSION = 2  # distinct from field ciphertext (VERSION = 1): the two never confuse
UPLOAD_ALGORITHM = "X25519-HKDF-SHA256-AES256GCM"
_UPLOAD_HEADER = 1 + 16 + 32 + 12
_UPLOAD_INFO = b"pupilpost upload v1"
_UPLOAD_SIGNED = "pupilpost-upload-v1"
_UPLOAD_PURPOSE = "upload"
_PLATFORM = UUID(int=0)  # upload keys belong to the platform, not to a school


def generate_upload_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 upload key pair: (private raw 32 bytes, public raw 32 bytes)."""
    private = X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def upload_public_key(private_key: bytes) -> bytes:
    """The raw public key of a raw X25519 upload private key."""
    return _x25519_private(private_key).public_key().public_bytes_raw()


def _upload_aad(key_id: UUID, school_id: UUID) -> bytes:
    return f"pupilpost:upload:v{UPLOAD_VERSION}:{key_id}:{school_id}".encode()


def _upload_key(private: X25519PrivateKey, peer: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    """X25519 then HKDF; ValueError for a low-order peer key (all-zero shared secret)."""
    # The KDF binds both public keys, so a swapped ephemeral or recipient key derives another key.
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer))
    return HKDF(SHA256(), 32, salt=None, info=_UPLOAD_INFO + ephemeral + recipient).derive(shared)


def _x25519_private(raw: bytes) -> X25519PrivateKey:
    if len(raw) != 32:
        raise KeyUnavailable("upload private key must be 32 raw bytes")
    return X25519PrivateKey.from_private_bytes(bytes(raw))


def seal_upload(public_key: bytes, key_id: UUID, school_id: UUID, plaintext: bytes) -> bytes:
    """Encrypt an upload to the platform's public key `key_id`, bound to `school_id`."""
    if len(public_key) != 32:
        raise KeyUnavailable("upload public key must be 32 raw bytes")
    ephemeral = X25519PrivateKey.generate()
    eph_public = ephemeral.public_key().public_bytes_raw()
    try:
        key = _upload_key(ephemeral, bytes(public_key), eph_public, bytes(public_key))
    except ValueError as exc:
        raise KeyUnavailable("upload public key is not a usable X25519 key") from exc
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext, _upload_aad(key_id, school_id))
    return bytes([UPLOAD_VERSION]) + key_id.bytes + eph_public + nonce + ct


def upload_key_id(blob: bytes) -> UUID:
    """The id of the upload key a sealed upload was encrypted to."""
    if len(blob) < _UPLOAD_HEADER + 16 or blob[0] != UPLOAD_VERSION:
        raise TamperedCiphertext("upload is malformed or of an unknown version")
    return UUID(bytes=bytes(blob[1:17]))


def open_upload(private_key: bytes, school_id: UUID, blob: bytes) -> bytes:
    """Decrypt a `seal_upload` result; TamperedCiphertext on any change, wrong key or wrong school."""
    key_id = upload_key_id(blob)
    private = _x25519_private(private_key)
    recipient = private.public_key().public_bytes_raw()
    eph_public, nonce = bytes(blob[17:49]), bytes(blob[49:61])
    try:
        key = _upload_key(private, eph_public, eph_public, recipient)
        return AESGCM(key).decrypt(nonce, bytes(blob[61:]), _upload_aad(key_id, school_id))
    except (InvalidTag, ValueError) as exc:
        raise TamperedCiphertext("upload failed authentication") from exc


def _upload_message(timestamp: int, nonce: str, body: bytes) -> bytes:
    # Unambiguous: the timestamp is an integer and the body hash is fixed-length hex.
    return f"{_UPLOAD_SIGNED}\n{int(timestamp)}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()


def sign_upload(api_secret: str, *, timestamp: int, nonce: str, body: bytes) -> str:
    """Hex HMAC-SHA256, keyed by the API key's secret, over timestamp, nonce and sha256(body)."""
    if not api_secret:
        raise ValueError("an upload signature needs the API key's secret")
    return hmac.new(api_secret.encode(), _upload_message(timestamp, nonce, body), hashlib.sha256).hexdigest()


def verify_upload_signature(api_secret: str, *, timestamp: int, nonce: str, body: bytes,
                            signature: str) -> bool:
    """Whether `signature` is sign_upload's for these values (constant-time; freshness is the caller's)."""
    if not api_secret:
        return False
    expected = sign_upload(api_secret, timestamp=timestamp, nonce=nonce, body=body)
    return hmac.compare_digest(expected.encode(), signature.encode())


def wrap_private_key(kek: bytes, key_id: UUID, private: bytes) -> bytes:
    """Wrap an upload private key under the KEK (bound to its key id)."""
    return wrap(kek, _PLATFORM, _UPLOAD_PURPOSE, key_id, private)


def unwrap_private_key(kek: bytes, key_id: UUID, wrapped: bytes) -> bytes:
    """Unwrap an upload private key; a wrong KEK or key id fails."""
    return unwrap(kek, _PLATFORM, _UPLOAD_PURPOSE, key_id, wrapped)
