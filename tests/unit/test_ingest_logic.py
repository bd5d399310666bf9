"""The import diff: exact added/changed/removed sets, contact values never used unconfirmed,
and re-planning an applied upload yields nothing."""
from __future__ import annotations

from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.logic import (
    KINDS,
    Current,
    Incoming,
    chunks,
    decide_value,
    new_ids,
    plan_import,
)

refs = st.binary(min_size=2, max_size=2)
prints = st.sampled_from([b"fp-a", b"fp-b", b"fp-c"])
values = st.none() | st.sampled_from([b"v1", b"v2", b"v3"])


@st.composite
def directory(draw):
    """A current directory and an incoming upload over overlapping references."""
    current, incoming = {}, {}
    for kind in KINDS:
        have = draw(st.dictionaries(refs, st.tuples(prints, values, values, values), max_size=8))
        new = draw(st.dictionaries(refs, st.tuples(prints, values, values), max_size=8))
        current[kind] = {r: Current(uuid4(), fp, {"email": e, "mobile": None}, {"email": p} if p else {})
                         for r, (fp, e, p, _) in have.items()}
        incoming[kind] = [Incoming(r, fp, {"email": e, "mobile": None}) for r, (fp, e, _) in new.items()]
    return current, incoming


@given(directory())
def test_added_changed_removed_are_exactly_the_set_differences(d):
    current, incoming = d
    plan = plan_import(current, incoming)
    for kind in KINDS:
        have, new = current[kind], {i.ref_index: i for i in incoming[kind]}
        assert {r for _, r in plan.added[kind]} == new.keys() - have.keys()
        assert set(plan.removed[kind]) == {have[r].record_id for r in have.keys() - new.keys()}
        assert {r for _, r in plan.changed[kind]} == {
            r for r in new.keys() & have.keys() if new[r].fingerprint != have[r].fingerprint}


@given(directory())
def test_only_contacts_get_value_decisions_and_never_to_use_an_unconfirmed_value(d):
    current, incoming = d
    plan = plan_import(current, incoming)
    contact_ids = {c.record_id for c in current["contact"].values()}
    new_by_ref = {i.ref_index: i for i in incoming["contact"]}
    for change in plan.values:
        assert change.contact_id in contact_ids and change.decision != "keep"
        if change.decision == "apply":  # only ever a removal takes effect without the parent
            assert new_by_ref[change.ref_index].values[change.field] is None


@given(directory())
def test_an_applied_upload_plans_to_nothing_the_second_time(d):
    current, incoming = d
    plan = plan_import(current, incoming)
    ids = {r: i for k in KINDS for i, r in plan.added[k]}
    after = {}
    for kind in KINDS:
        after[kind] = {}
        for rec in incoming[kind]:
            old = current[kind].get(rec.ref_index)
            record_id = old.record_id if old else ids[rec.ref_index]
            after[kind][rec.ref_index] = Current(record_id, rec.fingerprint, dict(rec.values), {})
    assert plan_import(after, incoming).empty()


def test_value_decisions():
    assert decide_value(b"a", None, b"a") == "keep"
    assert decide_value(b"a", b"b", b"a") == "withdraw"
    assert decide_value(b"a", None, None) == "apply"
    assert decide_value(None, None, b"a") == "request"
    assert decide_value(b"a", None, b"b") == "request"
    assert decide_value(b"a", b"b", b"b") == "keep"
    assert decide_value(b"a", b"b", b"c") == "request"
    assert decide_value(None, None, None) == "keep"


@given(st.lists(st.integers(), max_size=50), st.integers(1, 10))
def test_chunks_keep_order_and_size(items, size):
    parts = chunks(items, size)
    assert [x for p in parts for x in p] == items and all(len(p) <= size for p in parts) and parts


@given(directory(), st.sets(st.sampled_from(KINDS), min_size=1))
def test_a_kind_the_export_does_not_cover_is_left_as_it_is(d, uncovered):
    current, incoming = d
    partial = {k: v for k, v in incoming.items() if k not in uncovered}
    plan = plan_import(current, partial)
    full = plan_import(current, incoming)
    for kind in KINDS:
        if kind in uncovered:
            assert plan.added[kind] == plan.changed[kind] == plan.removed[kind] == []
        else:
            assert set(plan.removed[kind]) == set(full.removed[kind])
            assert [r for _, r in plan.changed[kind]] == [r for _, r in full.changed[kind]]
    assert all(v.contact_id in {c.record_id for c in current["contact"].values()} for v in plan.values)
    if "contact" in uncovered:
        assert plan.values == []


@given(st.integers(0, 300))
def test_new_ids_are_distinct_version_4_uuids_that_work_as_uuid_uuid(n):
    ids = list(new_ids(n))
    assert len(ids) == len(set(ids)) == n
    for i in ids:
        assert isinstance(i, UUID) and i.version == 4 and i.variant == "specified in RFC 4122"
        same = UUID(str(i))
        assert same == i and hash(same) == hash(i) and {same: 1}[i] == 1
