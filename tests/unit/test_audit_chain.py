"""The audit hash chain detects any edited, removed, reordered or inserted record."""
from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from schemas.audit import AccessV1
from services.audit import logic


def chain(n: int, school=None) -> list[dict]:
    school = school or uuid4()
    records, prev = [], logic.GENESIS
    for seq in range(1, n + 1):
        evt = AccessV1(school_id=school, actor_id=uuid4(), actor_kind="operator", tier="basic",
                       service="ingest", resource=f"school/{school}", action="read", purpose="p")
        fields = logic.record_fields(evt, seq)
        h = logic.record_hash(prev, fields)
        records.append({**fields, "prev_hash": prev, "hash": h})
        prev = h
    return records


def test_an_intact_chain_verifies():
    assert logic.first_break(chain(5)) is None
    assert logic.first_break([]) is None


@given(n=st.integers(2, 8), data=st.data())
def test_editing_any_field_of_any_record_is_detected(n, data):
    records = chain(n)
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["resource", "action", "purpose", "actor_kind", "outcome", "service"]))
    records[i] = {**records[i], field: records[i][field] + "x"}
    assert logic.first_break(records) == i + 1


@given(n=st.integers(3, 8), data=st.data())
def test_removing_or_swapping_records_is_detected(n, data):
    records = chain(n)
    i = data.draw(st.integers(0, n - 2))
    # Either way the record now at position i (seq i + 2) is the first that does not fit.
    assert logic.first_break(records[:i] + records[i + 1:]) == i + 2
    swapped = records[:i] + [records[i + 1], records[i]] + records[i + 2:]
    assert logic.first_break(swapped) == i + 2


def test_a_long_chain_verifies_page_by_page():
    records = chain(7)
    assert logic.first_break(records[:3]) is None
    assert logic.first_break(records[3:], bytes(records[2]["hash"]), 4) is None
    assert logic.first_break(records[4:], bytes(records[2]["hash"]), 4) == 5
