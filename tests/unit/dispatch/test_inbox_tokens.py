"""Parent sign-in, pure parts: token format, codes, login expiry/attempts, addresses, inbox cursors."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dispatch import inbox_auth as ia
from services.dispatch.inbox_models import Login, NewSubscription, Preferences

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def test_a_token_parses_back_to_its_id_and_only_its_hash_is_kept():
    token_id, token, stored = ia.new_token()
    assert token.startswith(f"ppp.{token_id}.")
    parsed = ia.parse_token(token)
    assert parsed is not None and parsed[0] == token_id
    secret = parsed[1]
    assert stored == hashlib.sha256(secret.encode()).digest() and secret.encode() not in stored
    assert ia.secret_matches(stored, secret)
    assert not ia.secret_matches(stored, secret[:-1] + ("A" if secret[-1] != "A" else "B"))


def test_tokens_are_fresh_and_long():
    tokens = {ia.new_token()[1] for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t.split(".")[2]) >= 43 for t in tokens)  # 256 bits, base64url


@pytest.mark.parametrize("bad", [
    "", "ppp", "ppp.x.y", f"pps.{uuid4()}.secret", f"ppo.{uuid4()}.secret", f"ppp.{uuid4()}.",
    f"ppp.{uuid4()}.a.b", f"PPP.{uuid4()}.secret", "ppp..secret",
])
def test_malformed_or_foreign_tokens_are_refused(bad):
    assert ia.parse_token(bad) is None


def test_codes_are_six_digits_and_bound_to_their_login():
    codes = [ia.new_code() for _ in range(200)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(set(codes)) > 150
    login, other = uuid4(), uuid4()
    stored = ia.code_hash(login, "012345")
    assert ia.code_matches(stored, login, "012345")
    assert not ia.code_matches(stored, login, "012346")
    assert not ia.code_matches(stored, other, "012345")
    assert stored != hashlib.sha256(b"012345").digest()


@pytest.mark.parametrize(("attempts", "expires_in", "used", "ok"), [
    (0, timedelta(minutes=5), False, True),
    (4, timedelta(seconds=1), False, True),
    (5, timedelta(minutes=5), False, False),
    (0, timedelta(0), False, False),
    (0, -timedelta(seconds=1), False, False),
    (0, timedelta(minutes=5), True, False),
])
def test_a_login_takes_codes_while_unused_unexpired_and_under_five_wrong_tries(attempts, expires_in, used, ok):
    assert ia.login_usable(attempts, NOW + expires_in, NOW if used else None, NOW) is ok


@pytest.mark.parametrize(("typed", "normalised"), [
    ("  Jo.Bloggs@Example.COM ", "jo.bloggs@example.com"),
    ("parent0-1@example.org", "parent0-1@example.org"),
])
def test_emails_are_normalised_as_the_directory_indexes_them(typed, normalised):
    assert ia.normalise_email(typed) == normalised


@pytest.mark.parametrize("bad", ["", "no-at-sign", "@example.org", "jo@localhost", "jo bloggs@example.org"])
def test_non_addresses_are_refused(bad):
    assert ia.normalise_email(bad) is None


@pytest.mark.parametrize(("typed", "e164"), [
    ("07700 900123", "+447700900123"), ("+44 7700 900123", "+447700900123"), ("+447700900123", "+447700900123"),
    ("(07700) 900-123", "+447700900123"),
])
def test_mobiles_are_normalised_to_e164(typed, e164):
    assert ia.normalise_mobile(typed) == e164


@pytest.mark.parametrize("bad", ["", "hello", "123", "+44"])
def test_non_numbers_are_refused(bad):
    assert ia.normalise_mobile(bad) is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       st.uuids())
def test_cursors_round_trip(at, delivery_id):
    assert ia.decode_cursor(ia.encode_cursor(at, delivery_id)) == (at, delivery_id)


@pytest.mark.parametrize("bad", ["", "!!!", "bm90IGEgY3Vyc29y", ia.encode_cursor(NOW, uuid4())[:-4]])
def test_bad_cursors_are_refused(bad):
    assert ia.decode_cursor(bad) is None


def test_a_naive_time_is_not_a_cursor():
    import base64
    raw = base64.urlsafe_b64encode(f"2026-11-22T09:30:00|{uuid4()}".encode()).decode()
    assert ia.decode_cursor(raw) is None


def test_login_takes_exactly_one_address_and_never_echoes_it():
    school = uuid4()
    assert Login(school_id=school, email=" A@B.example ").address() == ("email", "a@b.example")
    assert Login(school_id=school, mobile="07700900123").address() == ("mobile", "+447700900123")
    for bad in ({}, {"email": "a@b.example", "mobile": "07700900123"}):
        with pytest.raises(ValueError, match="exactly one"):
            Login(school_id=school, **bad)
    with pytest.raises(ValueError) as err:
        Login(school_id=school, email="secret-person-at-nowhere")
    assert "email" in _messages(err.value) and "secret-person" not in _messages(err.value)


def _messages(exc) -> str:
    return " ".join(f"{e['loc']} {e['msg']}" for e in exc.errors())


def test_push_subscriptions_need_a_url_and_real_keys():
    good = {"endpoint": "https://push.example/abc", "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}}
    sub = NewSubscription.model_validate(good)
    assert sub.stored() == good
    for field, patch in (("endpoint", {"endpoint": "ftp://x/y"}), ("endpoint", {"endpoint": "not a url"}),
                         ("p256dh", {"keys": {"p256dh": "AAAA", "auth": "A" * 22}}),
                         ("auth", {"keys": {"p256dh": "B" + "A" * 86, "auth": "AAAA"}})):
        with pytest.raises(ValueError) as err:
            NewSubscription.model_validate({**good, **patch})
        assert field in _messages(err.value)


def test_preferences_keep_the_platform_order_once_each():
    assert Preferences(channels=["sms", "app", "sms"], marketing_consent=True).ordered() == ["app", "sms"]
    for bad in ([], ["fax"]):
        with pytest.raises(ValueError):
            Preferences(channels=bad, marketing_consent=False)
