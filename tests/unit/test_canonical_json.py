"""`as_json` writes exactly the bytes `json.dumps` writes: stored fingerprints depend on them."""
from __future__ import annotations

import json
from datetime import date
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.directory_store import as_json

flat_values = st.text() | st.integers() | st.integers(min_value=2**63 - 5, max_value=2**70) | st.booleans() | st.none()
any_values = st.recursive(flat_values | st.floats(allow_nan=False) | st.just(1e-05),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                          max_leaves=8)


def reference(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@given(st.dictionaries(st.text(), flat_values, max_size=12))
def test_a_flat_record_is_written_byte_for_byte_as_json_writes_it(record):
    assert as_json(record) == reference(record)


@given(any_values)
def test_anything_else_is_too(value):
    assert as_json(value) == reference(value)


def test_awkward_characters_and_values():
    record = {"surname": "O\u2019Brien-Zoë 😀 \x7f\x00\n\"\\/", "é": 1, "a": None, "b": True,
              "lone": "\ud800", "big": 2**80}
    assert as_json(record) == reference(record)
    for value in ({"when": date(2025, 1, 2), "id": UUID(int=7)}, {"x": 1e-05}, [1, "a"], {1: "int key"}):
        assert as_json(value) == reference(value)
