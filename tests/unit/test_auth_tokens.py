"""Credentials: token shape, hash-only storage, tier ordering."""
from __future__ import annotations

import hashlib
from uuid import uuid4

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from pupilpost import auth


def test_a_token_is_shown_once_and_only_its_hash_travels():
    token, evt = auth.new_credential("school", school_id=uuid4())
    credential_id, secret = auth.parse_token(token)
    assert credential_id == evt.credential_id and evt.kind == "school"
    assert evt.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in evt.model_dump_json() and len(secret) >= 43


def test_operator_credentials_need_a_tier():
    with pytest.raises(ValueError):
        auth.new_credential("operator")
    _, evt = auth.new_credential("operator", tier="intermediate", permissions=(auth.PAYMENTS,))
    assert evt.tier == "intermediate" and evt.permissions == ("payments",) and evt.school_id is None


@given(st.text(max_size=120))
def test_parse_token_never_crashes_on_junk(text):
    parsed = auth.parse_token(text)
    assert parsed is None or text.startswith(("pps.", "ppo."))


@pytest.mark.parametrize("tier,needed,ok", [("basic", "basic", True), ("basic", "intermediate", False),
                                            ("intermediate", "intermediate", True),
                                            ("administrator", "basic", True), ("intermediate", "administrator", False)])
def test_tiers_are_ordered(tier, needed, ok):
    who = auth.Principal(uuid4(), "operator", tier=tier)
    if ok:
        auth.require_tier(who, needed)
    else:
        with pytest.raises(HTTPException) as err:
            auth.require_tier(who, needed)
        assert err.value.status_code == 403


def test_a_school_key_gets_404_for_another_school_and_403_for_operator_routes():
    mine, other = uuid4(), uuid4()
    school = auth.Principal(uuid4(), "school", school_id=mine)
    auth.require_school(school, mine)
    with pytest.raises(HTTPException) as err:
        auth.require_school(school, other)
    assert err.value.status_code == 404
    with pytest.raises(HTTPException) as err:
        auth.require_tier(school, "basic")
    assert err.value.status_code == 403
