"""Upload crypto: hybrid encryption round trip, tamper/wrong key/wrong school refused, signatures."""
from __future__ import annotations

import os
import string
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pupilpost import crypto

uuids = st.uuids()
payloads = st.binary(max_size=4096)
# API key secrets are base64url text (pupilpost.auth.new_credential).
secrets_ = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64)
nonces = st.text(alphabet="0123456789abcdef", min_size=1, max_size=32)
timestamps = st.integers(min_value=0, max_value=2**40)

KEYPAIR = crypto.generate_upload_keypair()
OTHER_KEYPAIR = crypto.generate_upload_keypair()


def test_keypair_is_raw_x25519():
    private, public = crypto.generate_upload_keypair()
    assert len(private) == 32 and len(public) == 32
    assert (private, public) != KEYPAIR


@given(key_id=uuids, school=uuids, plaintext=payloads)
def test_upload_round_trips(key_id, school, plaintext):
    private, public = KEYPAIR
    blob = crypto.seal_upload(public, key_id, school, plaintext)
    assert blob[0] == crypto.UPLOAD_VERSION != crypto.VERSION
    assert crypto.upload_key_id(blob) == key_id
    assert crypto.open_upload(private, school, blob) == plaintext


@settings(max_examples=300)
@given(school=uuids, plaintext=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_changed_byte_is_detected(school, plaintext, data):
    private, public = KEYPAIR
    blob = bytearray(crypto.seal_upload(public, uuid4(), school, plaintext))
    i = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.open_upload(private, school, bytes(blob))


@given(school=uuids, plaintext=st.binary(max_size=512), cut=st.integers(min_value=1, max_value=200))
def test_truncated_upload_is_refused(school, plaintext, cut):
    private, public = KEYPAIR
    blob = crypto.seal_upload(public, uuid4(), school, plaintext)
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.open_upload(private, school, blob[:-cut])


@given(school=uuids, other=uuids, plaintext=st.binary(max_size=512))
def test_wrong_private_key_or_school_is_refused(school, other, plaintext):
    private, public = KEYPAIR
    blob = crypto.seal_upload(public, uuid4(), school, plaintext)
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.open_upload(OTHER_KEYPAIR[0], school, blob)
    if other != school:
        with pytest.raises(crypto.TamperedCiphertext):
            crypto.open_upload(private, other, blob)


def test_field_ciphertext_is_not_an_upload_and_vice_versa():
    private, public = KEYPAIR
    school = uuid4()
    field_blob = crypto.seal(os.urandom(32), uuid4(), school, "f", b"x" * 100)
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.open_upload(private, school, field_blob)
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.key_id_of(crypto.seal_upload(public, uuid4(), school, b"x"))


def test_same_upload_encrypts_differently_each_time():
    _, public = KEYPAIR
    key_id, school = uuid4(), uuid4()
    a = crypto.seal_upload(public, key_id, school, b"same")
    b = crypto.seal_upload(public, key_id, school, b"same")
    assert a[17:49] != b[17:49] and a != b  # fresh ephemeral key and nonce


def test_malformed_keys_are_refused_without_echoing_them():
    with pytest.raises(crypto.KeyUnavailable):
        crypto.seal_upload(b"short", uuid4(), uuid4(), b"x")
    blob = crypto.seal_upload(KEYPAIR[1], uuid4(), uuid4(), b"x")
    with pytest.raises(crypto.KeyUnavailable):
        crypto.open_upload(b"short", uuid4(), blob)
    with pytest.raises(crypto.KeyUnavailable):  # all-zero (low-order) public key
        crypto.seal_upload(bytes(32), uuid4(), uuid4(), b"x")


@given(secret=secrets_, ts=timestamps, nonce=nonces, body=payloads)
def test_signature_verifies_for_the_same_values(secret, ts, nonce, body):
    sig = crypto.sign_upload(secret, timestamp=ts, nonce=nonce, body=body)
    assert len(sig) == 64 and int(sig, 16) >= 0
    assert crypto.verify_upload_signature(secret, timestamp=ts, nonce=nonce, body=body, signature=sig)


@given(a=st.tuples(secrets_, timestamps, nonces, payloads), b=st.tuples(secrets_, timestamps, nonces, payloads),
       mix=st.lists(st.booleans(), min_size=4, max_size=4))
def test_signature_verifies_only_for_the_same_values(a, b, mix):
    # Mix a's and b's values so single-field differences are explored, not only all-different ones.
    signed = tuple(x if m else y for x, y, m in zip(a, b, mix))
    secret, ts, nonce, body = signed
    sig = crypto.sign_upload(a[0], timestamp=a[1], nonce=a[2], body=a[3])
    ok = crypto.verify_upload_signature(secret, timestamp=ts, nonce=nonce, body=body, signature=sig)
    assert ok == (signed == a)


@given(secret=secrets_, body=payloads)
def test_tampered_or_empty_signature_or_secret_is_refused(secret, body):
    sig = crypto.sign_upload(secret, timestamp=1, nonce="ab", body=body)
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    for bad in (flipped, "", sig.upper() if sig.upper() != sig else "x", "é" * 64):
        assert not crypto.verify_upload_signature(secret, timestamp=1, nonce="ab", body=body, signature=bad)
    assert not crypto.verify_upload_signature("", timestamp=1, nonce="ab", body=body, signature=sig)
    with pytest.raises(ValueError):
        crypto.sign_upload("", timestamp=1, nonce="ab", body=body)


@given(kek=st.binary(min_size=32, max_size=32), other=st.binary(min_size=32, max_size=32), key_id=uuids)
def test_private_key_wrapping_needs_the_kek_and_key_id(kek, other, key_id):
    private, _ = crypto.generate_upload_keypair()
    wrapped = crypto.wrap_private_key(kek, key_id, private)
    assert private not in wrapped
    assert crypto.unwrap_private_key(kek, key_id, wrapped) == private
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.unwrap_private_key(kek, uuid4(), wrapped)
    with pytest.raises(crypto.TamperedCiphertext):  # not interchangeable with a school's data key
        crypto.unwrap(kek, UUID(int=0), "personal", key_id, wrapped)
    if other != kek:
        with pytest.raises(crypto.TamperedCiphertext):
            crypto.unwrap_private_key(other, key_id, wrapped)


def test_public_key_is_derivable_from_the_private_key():
    private, public = crypto.generate_upload_keypair()
    assert crypto.upload_public_key(private) == public


def test_keyring_wraps_upload_keys_under_its_kek():
    kek, key_id = os.urandom(32), uuid4()
    private, _ = crypto.generate_upload_keypair()
    wrapped = crypto.Keyring(kek).wrap_upload_key(key_id, private)
    assert crypto.unwrap_private_key(kek, key_id, wrapped) == private
    assert crypto.Keyring(kek).unwrap_upload_key(key_id, wrapped) == private
    with pytest.raises(crypto.TamperedCiphertext):
        crypto.Keyring(os.urandom(32)).unwrap_upload_key(key_id, wrapped)
