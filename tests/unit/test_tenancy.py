"""Tenancy rules: URNs, the school lifecycle, retention dates."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pupilpost.tenancy import (
    IllegalTransition, LifecycleEvent, SchoolState, normalise_school_name, purge_due, transactional_expiry,
    transition, valid_urn,
)

aware = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


@pytest.mark.parametrize("urn,ok", [("123456", True), ("100000", True), ("012345", False), ("12345", False),
                                    ("1234567", False), ("12a456", False), ("", False), ("١٢٣٤٥٦", False)])
def test_urns(urn, ok):
    assert valid_urn(urn) is ok


def test_lifecycle_allows_only_the_documented_transitions():
    assert transition(SchoolState.ACTIVE, LifecycleEvent.CANCEL) is SchoolState.DISABLED
    assert transition(SchoolState.DISABLED, LifecycleEvent.REINSTATE) is SchoolState.ACTIVE
    assert transition(SchoolState.DISABLED, LifecycleEvent.PURGE) is SchoolState.PURGED


@given(st.lists(st.sampled_from(list(LifecycleEvent)), max_size=12))
def test_a_purged_school_never_comes_back_and_active_is_never_purged_directly(events):
    state = SchoolState.ACTIVE
    for event in events:
        before = state
        try:
            state = transition(state, event)
        except IllegalTransition:
            continue
        assert before is not SchoolState.PURGED
        assert not (before is SchoolState.ACTIVE and state is SchoolState.PURGED)


@given(aware)
def test_purge_is_seven_days_after_cancellation(at):
    assert purge_due(at) - at == timedelta(days=7)


@given(aware)
def test_transactional_records_are_kept_six_years(at):
    expiry = transactional_expiry(at)
    assert expiry.year == at.year + 6 and expiry > at
    assert (expiry.month, expiry.day) == (at.month, at.day) or (at.month, at.day) == (2, 29)


def test_leap_day_records_expire_on_28_february():
    assert transactional_expiry(datetime(2024, 2, 29, 12, tzinfo=UTC)) == datetime(2030, 2, 28, 12, tzinfo=UTC)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        purge_due(datetime(2026, 1, 1))
    assert purge_due(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1)))).tzinfo is not None


@given(st.text(max_size=80))
def test_school_names_are_whitespace_normalised_idempotently(name):
    once = normalise_school_name(name)
    assert normalise_school_name(once) == once and "  " not in once and once == once.strip()
