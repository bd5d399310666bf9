"""Properties of the envelope: what decode accepts and rejects, and what its errors reveal.

Pure and in-process. Valid events are seeded from the checked-in examples, then mutated.
"""
from __future__ import annotations

import json
import re
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, ValidationError

from schemas import UnknownEvent, decode, encode
from schemas.envelope import Envelope
from schemas.generate import EXAMPLES
from schemas.registry import MODELS

# Pydantic is fast, but a cold first call on a loaded CI runner should not fail a deadline.
PROPERTY = settings(deadline=None)


def _seeds() -> dict[type[Envelope], dict[str, Any]]:
    seeds: dict[type[Envelope], dict[str, Any]] = {}
    for path in sorted(EXAMPLES.glob("*/v*/*.json")):
        data = json.loads(path.read_bytes())
        model = MODELS.get((data.get("type"), data.get("version")))
        if model is not None:
            seeds.setdefault(model, data)
    return seeds


SEEDS = _seeds()
SEEDED = sorted(SEEDS, key=lambda m: m.__name__)
models = st.sampled_from(SEEDED)

# Text that could be personal data. It always holds a character no error message uses,
# so finding it in a message means the message echoed it, never a coincidence.
secrets = st.text(st.characters(categories=("Lu", "Ll", "Nd", "Zs")), min_size=4, max_size=30) \
    .map(lambda s: f"Ж{s}Ж")
long_secrets = secrets.map(lambda s: (s * 1100)[:1100])
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1))


def _raw(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _names_field(message: str, field: str) -> bool:
    """Whether an UnknownEvent message reports a problem at `field` (or inside it)."""
    return re.search(rf"(: |; ){re.escape(field)}[.:]", message) is not None


def _takes_text(model: type[BaseModel], field: str) -> bool:
    """Whether a field is free text (str or a tuple of str), so any short string may be valid."""
    annotation = model.model_fields[field].annotation
    return annotation is str or str in typing.get_args(annotation)


def test_every_model_has_a_seed() -> None:
    assert set(SEEDED) == set(MODELS.values())


# ---- bytes that are not an event --------------------------------------------------------

def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return False
    return True


@PROPERTY
@given(st.binary() | st.text().map(str.encode))
def test_decode_rejects_bytes_that_are_not_json(raw: bytes) -> None:
    assume(not _is_json(raw))
    with pytest.raises(UnknownEvent, match="^not JSON"):
        decode(raw, MODELS)


@PROPERTY
@given(secrets)
def test_not_json_error_does_not_echo_the_input(secret: str) -> None:
    raw = f'{{"type": "audit.access", "note": {secret}}}'.encode()
    with pytest.raises(UnknownEvent) as caught:
        decode(raw, MODELS)
    assert secret not in str(caught.value)


@PROPERTY
@given(json_values.filter(lambda v: not isinstance(v, dict)))
def test_decode_rejects_json_that_is_not_an_object(value: Any) -> None:
    with pytest.raises(UnknownEvent, match="^not a JSON object$"):
        decode(json.dumps(value).encode(), MODELS)


@PROPERTY
@given(models, st.none() | st.text(max_size=60) | st.integers(),
       st.none() | st.integers() | st.text(max_size=5))
def test_decode_rejects_unknown_type_or_version(model: type[Envelope], type_: Any, version: Any) -> None:
    assume((type_, version) not in MODELS)
    payload = {**SEEDS[model], "type": type_, "version": version}
    with pytest.raises(UnknownEvent, match="^unknown event type/version"):
        decode(_raw(payload), MODELS)


@pytest.mark.parametrize("field", ["type", "version"])
def test_decode_rejects_missing_type_or_version(field: str) -> None:
    payload = dict(SEEDS[SEEDED[0]])
    del payload[field]
    with pytest.raises(UnknownEvent, match="^unknown event type/version"):
        decode(_raw(payload), MODELS)


@pytest.mark.parametrize("field,value", [("type", []), ("type", {"a": 1}), ("version", [1]),
                                         ("version", {})])
def test_decode_rejects_unhashable_type_or_version(field: str, value: Any) -> None:
    with pytest.raises(UnknownEvent):
        decode(_raw({**SEEDS[SEEDED[0]], field: value}), MODELS)


def test_decode_rejects_deeply_nested_json() -> None:
    with pytest.raises(UnknownEvent):
        decode(b"[" * 200_000, MODELS)


# ---- invalid fields: named, never echoed ---------------------------------------------------

@PROPERTY
@given(st.data())
def test_invalid_field_is_named_but_its_value_is_not_echoed(data: st.DataObject) -> None:
    model = data.draw(models)
    field = data.draw(st.sampled_from(sorted(set(model.model_fields) - {"type", "version"})))
    secret = data.draw(secrets | long_secrets)
    value = data.draw(st.sampled_from([secret, [secret], {"value": secret}, {secret: 1}]))
    try:
        event = decode(_raw({**SEEDS[model], field: value}), MODELS)
    except UnknownEvent as exc:
        message = str(exc)
        assert _names_field(message, field), message
        assert secret not in message and secret[:12] not in message, message
        assert model.__name__ in message
    else:
        assert _takes_text(model, field), f"{model.__name__}.{field} accepted {value!r}"
        assert getattr(event, field) in (value, tuple(value) if isinstance(value, list) else value)


def test_an_unexpected_key_is_reported_where_it_is_not_echoed() -> None:
    from schemas.messages import MessageSubmittedV1

    with pytest.raises(UnknownEvent) as caught:
        decode(_raw({**SEEDS[MessageSubmittedV1], "audience": {"Ruby Wright": 1}}), MODELS)
    assert "audience: extra_forbidden" in str(caught.value) and "Ruby" not in str(caught.value)


@PROPERTY
@given(models, secrets, st.sampled_from(["traceparent", "tracestate"]))
def test_invalid_nested_field_is_named_but_not_echoed(model: type[Envelope], secret: str, field: str) -> None:
    trace = {"traceparent": secret, "tracestate": ""} if field == "traceparent" else {"tracestate": 7}
    trace["extra"] = secret
    with pytest.raises(UnknownEvent) as caught:
        decode(_raw({**SEEDS[model], "trace": trace}), MODELS)
    assert _names_field(str(caught.value), f"trace.{field}"), str(caught.value)
    assert secret not in str(caught.value)


@PROPERTY
@given(models, st.uuids().map(str), st.data())
def test_uuid_fields_reject_mangled_uuids(model: type[Envelope], good: str, data: st.DataObject) -> None:
    fields = [n for n, f in model.model_fields.items()
              if UUID in (f.annotation, *typing.get_args(f.annotation))]
    field = data.draw(st.sampled_from(fields))
    mangled = good[:-1] + "ж"
    with pytest.raises(UnknownEvent) as caught:
        decode(_raw({**SEEDS[model], field: mangled}), MODELS)
    assert _names_field(str(caught.value), field)
    assert good[:-1] not in str(caught.value)


# ---- time ------------------------------------------------------------------------------------

def _aware_fields(model: type[BaseModel]) -> list[str]:
    return sorted(n for n, f in model.model_fields.items() if f.annotation is AwareDatetime)


@PROPERTY
@given(models, instants, st.data())
def test_naive_datetimes_are_rejected(model: type[Envelope], naive: datetime, data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(["occurred_at", *_aware_fields(model)]))
    with pytest.raises(UnknownEvent) as caught:
        decode(_raw({**SEEDS[model], field: naive.isoformat()}), MODELS)
    assert f"{field}: timezone_aware" in str(caught.value)
    assert naive.isoformat() not in str(caught.value)
    with pytest.raises(ValidationError):
        model.model_validate({**SEEDS[model], field: naive})


@PROPERTY
@given(models, instants, offsets, st.uuids())
def test_aware_events_round_trip(model: type[Envelope], instant: datetime, tz: timezone,
                                 event_id: UUID) -> None:
    aware = instant.replace(tzinfo=tz)
    payload = {**SEEDS[model], "occurred_at": aware.isoformat(), "event_id": str(event_id)}
    event = decode(_raw(payload), MODELS)
    assert event.occurred_at == aware and event.occurred_at.utcoffset() == tz.utcoffset(None)
    assert event.event_id == event_id
    assert decode(encode(event), MODELS) == event


def test_occurred_at_defaults_to_now_in_utc() -> None:
    model = SEEDED[0]
    payload = {k: v for k, v in SEEDS[model].items() if k not in ("occurred_at", "event_id")}
    before = datetime.now(UTC)
    event = model.model_validate(payload)
    assert before <= event.occurred_at <= datetime.now(UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


# ---- additive versioning -----------------------------------------------------------------

@PROPERTY
@given(models, st.data())
def test_unknown_fields_are_ignored(model: type[Envelope], data: st.DataObject) -> None:
    extras = data.draw(st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda k: k not in model.model_fields),
        json_values, max_size=5))
    nested = data.draw(st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda k: k not in ("traceparent", "tracestate")),
        json_values, max_size=3))
    seed = SEEDS[model]
    trace = {**seed["trace"], **nested} if seed.get("trace") else seed.get("trace")
    event = decode(_raw({**seed, **extras, "trace": trace}), MODELS)
    assert event == decode(_raw(seed), MODELS)
    assert not set(extras) & set(json.loads(encode(event)))


# ---- the Kafka key -----------------------------------------------------------------------

def _nullable_school(model: type[Envelope]) -> bool:
    return type(None) in typing.get_args(model.model_fields["school_id"].annotation)


@PROPERTY
@given(models, st.uuids(), st.booleans())
def test_key_is_the_canonical_school_id(model: type[Envelope], school_id: UUID, upper: bool) -> None:
    written = str(school_id).upper() if upper else str(school_id)
    event = decode(_raw({**SEEDS[model], "school_id": written}), MODELS)
    assert event.key == str(school_id)
    assert decode(encode(event), MODELS).key == str(school_id)


@pytest.mark.parametrize("model", SEEDED, ids=lambda m: m.__name__)
def test_key_without_a_school_is_platform(model: type[Envelope]) -> None:
    raw = _raw({**SEEDS[model], "school_id": None})
    if _nullable_school(model):
        assert decode(raw, MODELS).key == "platform"
    else:
        with pytest.raises(UnknownEvent, match=r"school_id: "):
            decode(raw, MODELS)


def test_platform_events_exist_and_school_events_require_a_school() -> None:
    assert any(_nullable_school(m) for m in MODELS.values())
    assert not _nullable_school(MODELS[("tenancy.school.created", 1)])
