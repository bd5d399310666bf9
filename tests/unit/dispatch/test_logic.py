"""Channel policy and the delivery state machine."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dispatch.logic import (
    CHANNELS, TERMINAL, IllegalTransition, Recipient, advance, available, fallback_due, next_attempt, notice,
    plan_channels, neutral_title,
)

recipients = st.builds(Recipient, has_email=st.booleans(), has_mobile=st.booleans(), has_app=st.booleans(),
                       preferred=st.frozensets(st.sampled_from(CHANNELS)), marketing_consent=st.booleans())
levels = st.sampled_from(["public", "official", "official-sensitive"])
kinds = st.sampled_from(["information", "emergency", "marketing"])
states = st.sampled_from(["queued", "sent", "delivered", "failed", "bounced", "read", "cancelled"])


@given(levels, kinds, recipients)
def test_sensitive_content_never_goes_by_email_or_sms(level, kind, r):
    for p in plan_channels(level, kind, r):
        if level == "official-sensitive" and p.channel in ("email", "sms"):
            assert p.content == "notice"
        if p.content == "full":
            assert level != "official-sensitive" or p.channel == "app"


@given(levels, kinds, recipients)
def test_only_reachable_channels_except_the_sensitive_app_copy(level, kind, r):
    for p in plan_channels(level, kind, r):
        assert p.channel in available(r) or (p.channel == "app" and level == "official-sensitive")


@given(levels, recipients)
def test_marketing_needs_consent(level, r):
    plans = plan_channels(level, "marketing", r)
    if not r.marketing_consent:
        assert plans == []


@given(levels, recipients)
def test_emergencies_use_every_verified_channel_whatever_the_preferences(level, r):
    channels = {p.channel for p in plan_channels(level, "emergency", r)}
    assert available(r) <= channels


@given(levels, recipients)
def test_preferences_are_honoured_when_reachable(level, r):
    channels = {p.channel for p in plan_channels(level, "information", r)}
    wanted = r.preferred & available(r)
    if wanted:
        assert channels - {"app"} <= wanted | ({"app"} if level == "official-sensitive" else set())
        assert wanted <= channels


@given(levels, kinds, recipients)
def test_one_delivery_per_channel(level, kind, r):
    channels = [p.channel for p in plan_channels(level, kind, r)]
    assert len(channels) == len(set(channels))


def test_notices_and_previews_carry_only_the_school_name():
    assert notice("Brookvale Primary") == (
        "You have a new message from Brookvale Primary in Pupilpost. Log in to the app to read it.")
    assert neutral_title("Brookvale Primary") == "New message from Brookvale Primary"


@given(states, states)
def test_terminal_states_never_change_and_repeats_are_no_ops(current, reported):
    if reported == current:
        assert advance(current, reported) == current
    elif current in TERMINAL:
        with pytest.raises(IllegalTransition):
            advance(current, reported)


def test_the_documented_paths():
    assert advance(advance(advance("queued", "sent"), "delivered"), "read") == "read"
    assert advance("sent", "bounced") == "bounced"
    assert advance("queued", "cancelled") == "cancelled"
    with pytest.raises(IllegalTransition):
        advance("sent", "cancelled")
    with pytest.raises(IllegalTransition):
        advance("read", "queued")


@given(st.integers(1, 40))
def test_backoff_grows_and_is_capped(attempt):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    delay = next_attempt(attempt, now) - now
    assert timedelta(seconds=5) <= delay <= timedelta(minutes=30)
    assert next_attempt(attempt + 1, now) >= next_attempt(attempt, now)


def test_fallback_only_for_unread_app_messages_after_the_delay():
    t0 = datetime(2026, 1, 1, 8, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert fallback_due("app", "delivered", t0, t0 + hour, hour)
    assert not fallback_due("app", "read", t0, t0 + 2 * hour, hour)
    assert not fallback_due("app", "delivered", t0, t0 + hour / 2, hour)
    assert not fallback_due("email", "delivered", t0, t0 + 2 * hour, hour)
