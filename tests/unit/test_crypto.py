"""Pure crypto: round-trips, tamper detection, binding to school and field, key loading."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pupilpost import crypto

keys = st.binary(min_size=32, max_size=32)
uuids = st.uuids()
fields = st.text(min_size=1, max_size=40)


@given(key=keys, key_id=uuids, school=uuids, field=fields, plaintext=st.binary(max_size=2048))
def test_seal_round_trips(key, key_id, school, field, plaintext):
    blob = crypto.seal(key, key_id, school, field, plaintext)
    assert crypto.key_id_of(blob) == key_id
    assert crypto.unseal(key, school, field, blob) == plaintext


@given(key=keys, school=uuids, plaintext=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_changed_byte_is_detected(key, school, plaintext, data):
    blob = bytearray(crypto.seal(key, uuid4(), school, "f", plaintext))
    i = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.unseal(key, school, "f", bytes(blob))


@given(key=keys, school=uuids, other=uuids, field=fields, other_field=fields)
def test_ciphertext_is_bound_to_school_and_field(key, school, other, field, other_field):
    blob = crypto.seal(key, uuid4(), school, field, b"x")
    if other != school:
        with pytest.raises(crypto.TamperedCiphertext):
            crypto.unseal(key, other, field, blob)
    if other_field != field:
        with pytest.raises(crypto.TamperedCiphertext):
            crypto.unseal(key, school, other_field, blob)


@given(kek=keys, other=keys, dek=keys, school=uuids, key_id=uuids)
def test_wrapped_keys_need_the_right_kek_and_binding(kek, other, dek, school, key_id):
    wrapped = crypto.wrap(kek, school, "personal", key_id, dek)
    assert dek not in wrapped
    assert crypto.unwrap(kek, school, "personal", key_id, wrapped) == dek
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.unwrap(kek, school, "transactional", key_id, wrapped)
    if other != kek:
        with pytest.raises(crypto.TamperedCiphertext):
            crypto.unwrap(other, school, "personal", key_id, wrapped)


def test_same_plaintext_encrypts_differently_each_time():
    key, school = os.urandom(32), uuid4()
    assert crypto.seal(key, uuid4(), school, "f", b"same") != crypto.seal(key, uuid4(), school, "f", b"same")


@given(st.binary(max_size=60))
def test_malformed_ciphertext_is_refused_not_crashing(blob):
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.unseal(os.urandom(32), UUID(int=1), "f", blob)


@given(key=keys, value=st.text(max_size=50), other=st.text(max_size=50))
def test_blind_index_is_deterministic_and_distinguishes_values(key, value, other):
    assert crypto.blind_index(key, "email", value) == crypto.blind_index(key, "email", value)
    if value != other:
        assert crypto.blind_index(key, "email", value) != crypto.blind_index(key, "email", other)


def test_index_key_is_derived_from_and_differs_from_the_personal_key():
    personal = os.urandom(32)
    derived = crypto.derive_index_key(personal)
    assert derived == crypto.derive_index_key(personal) and derived != personal


def test_master_key_from_value_file_or_generated_in_development_only(tmp_path):
    value = base64.b64encode(os.urandom(32)).decode()
    assert crypto.load_master_key(value, None, development=False) == base64.b64decode(value)
    path = tmp_path / "master.key"
    with pytest.raises(crypto.MasterKeyMissing, match="PUPILPOST_MASTER_KEY"):
        crypto.load_master_key(None, path, development=False)
    generated = crypto.load_master_key(None, path, development=True)
    assert len(generated) == 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert crypto.load_master_key(None, path, development=False) == generated
    with pytest.raises(crypto.MasterKeyMissing, match="32 bytes"):
        crypto.load_master_key(base64.b64encode(b"short").decode(), None, development=False)
    with pytest.raises(crypto.MasterKeyMissing, match="base64"):
        crypto.load_master_key("not base64!", None, development=False)


@given(key=st.binary(min_size=0, max_size=100), field=fields, value=st.text(max_size=200))
def test_the_blind_indexer_gives_blind_index(key, field, value):
    assert crypto.BlindIndexer(key)(field, value) == crypto.blind_index(key, field, value)
    assert crypto.blind_index(key, field, value) == hmac.new(key, f"{field}\x00{value}".encode(),
                                                             hashlib.sha256).digest()


@given(key=keys, key_id=uuids, school=uuids, field=fields, plaintexts=st.lists(st.binary(max_size=300), max_size=5))
def test_seal_many_seals_each_value_as_seal_does(key, key_id, school, field, plaintexts):
    blobs = crypto.seal_many(key, key_id, school, field, plaintexts)
    assert [crypto.unseal(key, school, field, b) for b in blobs] == plaintexts
    assert len({b[17:29] for b in blobs}) == len(blobs)  # a fresh nonce each
