"""Envelope encryption against the real keyring tables, and crypto-shredding."""
from __future__ import annotations

import base64
import os
from uuid import uuid4

import asyncpg
import pytest

from pupilpost import db
from pupilpost.crypto import Keyring, KeyUnavailable, TamperedCiphertext


@pytest.fixture
async def svc(env):
    service = env.create("classifier")
    await service.start()
    yield service
    await service.stop()


def kek_of(env) -> bytes:
    return base64.b64decode(env.platform.master_key.get_secret_value())


async def test_fields_round_trip_and_are_bound_to_school_and_field(svc, env):
    school, other = uuid4(), uuid4()
    async with db.tenant_tx(svc.db(), school) as conn:
        await svc.keys().provision_school(conn, school)
        blob = await svc.keys().encrypt(conn, school, "contact.email", "parent@example.org")
        assert b"parent@example.org" not in blob
        assert await svc.keys().decrypt(conn, school, "contact.email", blob) == b"parent@example.org"
        with pytest.raises(TamperedCiphertext):
            await svc.keys().decrypt(conn, school, "contact.mobile", blob)
        with pytest.raises(TamperedCiphertext):
            await svc.keys().decrypt(conn, other, "contact.email", blob)
        tampered = blob[:-1] + bytes([blob[-1] ^ 1])
        with pytest.raises(TamperedCiphertext):
            await svc.keys().decrypt(conn, school, "contact.email", tampered)
    fresh = Keyring(kek_of(env))  # another process with the same KEK: no cache
    async with db.tenant_tx(svc.db(), school) as conn:
        assert await fresh.decrypt(conn, school, "contact.email", blob) == b"parent@example.org"
    wrong = Keyring(os.urandom(32))
    async with db.tenant_tx(svc.db(), school) as conn:
        with pytest.raises(TamperedCiphertext):
            await wrong.decrypt(conn, school, "contact.email", blob)


async def test_destroying_a_school_key_makes_its_data_unrecoverable(svc, env):
    school = uuid4()
    message = uuid4()
    async with db.tenant_tx(svc.db(), school) as conn:
        await svc.keys().provision_school(conn, school)
        field_blob = await svc.keys().encrypt(conn, school, "pupil.name", "Ada Lovelace")
        await svc.keys().create_message_key(conn, school, message)
        body_blob = await svc.keys().encrypt_with(
            await svc.keys().message_key(conn, school, message), "message.body", "Ada has a fever")
        payment = await svc.keys().encrypt(conn, school, "payment.item", "trip", family="transactional")
        assert await svc.keys().destroy(conn, school, purpose="personal") == 1

    for keyring in (svc.keys(), Keyring(kek_of(env), cache_seconds=0)):
        async with db.tenant_tx(svc.db(), school) as conn:
            with pytest.raises(KeyUnavailable):
                await keyring.decrypt(conn, school, "pupil.name", field_blob)
            with pytest.raises(KeyUnavailable):  # the message key was wrapped by the personal key
                await keyring.decrypt(conn, school, "message.body", body_blob)
            # Transactional records survive a personal purge.
            assert await keyring.decrypt(conn, school, "payment.item", payment) == b"trip"
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        rows = await conn.fetch("SELECT purpose, wrapped, destroyed_at FROM keyring.data_key"
                                " WHERE school_id = $1 AND purpose = 'personal'", school)
        assert rows[0]["wrapped"] is None and rows[0]["destroyed_at"] is not None
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("DELETE FROM keyring.data_key WHERE school_id = $1", school)
    finally:
        await conn.close()


async def test_recall_destroys_one_message_key_only(svc):
    school, m1, m2 = uuid4(), uuid4(), uuid4()
    async with db.tenant_tx(svc.db(), school) as conn:
        await svc.keys().provision_school(conn, school)
        k1 = await svc.keys().message_key(conn, school, await _mk(svc, conn, school, m1) or m1)
        b1 = await svc.keys().encrypt_with(k1, "message.body", "one")
        await _mk(svc, conn, school, m2)
        b2 = await svc.keys().encrypt_with(await svc.keys().message_key(conn, school, m2), "message.body", "two")
        assert await svc.keys().destroy(conn, school, purpose="message", subject_id=m1) == 1
        with pytest.raises(KeyUnavailable):
            await svc.keys().decrypt(conn, school, "message.body", b1)
        assert await svc.keys().decrypt(conn, school, "message.body", b2) == b"two"


async def _mk(svc, conn, school, message):
    await svc.keys().create_message_key(conn, school, message)


async def test_blind_indexes_match_equal_values_within_a_school_only(svc):
    a, b = uuid4(), uuid4()
    for school in (a, b):
        async with db.tenant_tx(svc.db(), school) as conn:
            await svc.keys().provision_school(conn, school)
    async with db.tenant_tx(svc.db(), a) as conn:
        i1 = await svc.keys().index(conn, a, "email", "parent@example.org")
        assert i1 == await svc.keys().index(conn, a, "email", "parent@example.org")
        assert i1 != await svc.keys().index(conn, a, "email", "other@example.org")
        assert i1 != await svc.keys().index(conn, a, "mobile", "parent@example.org")
    async with db.tenant_tx(svc.db(), b) as conn:
        assert i1 != await svc.keys().index(conn, b, "email", "parent@example.org")
