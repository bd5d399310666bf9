"""Every example under schemas/examples/ parses into its topic's model, and every model has one.

Layout: schemas/examples/<topic>/v<version>/<name>.json for events, and
schemas/examples/<topic>.dlq/v1/<name>.json for dead-letter records.
"""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import UnknownEvent, decode, encode
from schemas.dlq import DeadLetterV1
from schemas.generate import EXAMPLES, GENERATED, schema_file_name
from schemas.registry import MODELS, TOPICS

DLQS = {t.dlq: t for t in TOPICS.values()}
FILES = sorted(EXAMPLES.glob("*/v*/*.json"))


def _id(path: Path) -> str:
    return path.relative_to(EXAMPLES).as_posix()


def _parts(path: Path) -> tuple[str, int]:
    """The topic and version an example's directories name."""
    return path.parent.parent.name, int(path.parent.name.removeprefix("v"))


def _unknown_keys(model: type[BaseModel], data: dict[str, Any], where: str = "") -> list[str]:
    """Keys the model would silently ignore (a typo in an example would otherwise pass)."""
    found = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append(f"{where}{key}")
            continue
        nested = next((a for a in getattr(field.annotation, "__args__", (field.annotation,))
                       if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nested and isinstance(value, dict):
            found += _unknown_keys(nested, value, f"{where}{key}.")
    return found


def test_examples_exist() -> None:
    assert FILES, f"no examples under {EXAMPLES}"
    stray = sorted(p for p in EXAMPLES.rglob("*") if p.is_file() and p not in FILES)
    assert not stray, f"files outside <topic>/v<version>/<name>.json: {stray}"


@pytest.mark.parametrize("path", [p for p in FILES if _parts(p)[0] not in DLQS], ids=_id)
def test_event_example_parses_into_its_topics_model(path: Path) -> None:
    topic_name, version = _parts(path)
    assert topic_name in TOPICS, f"{_id(path)}: no topic {topic_name!r} in the registry"
    raw = path.read_bytes()
    event = decode(raw, MODELS)
    assert type(event) in TOPICS[topic_name].models, \
        f"{_id(path)}: {type(event).__name__} is not carried by {topic_name}"
    assert event.version == version, f"{_id(path)}: a v{event.version} event in a v{version} directory"
    assert not _unknown_keys(type(event), json.loads(raw)), f"{_id(path)}: fields the model ignores"


@pytest.mark.parametrize("path", [p for p in FILES if _parts(p)[0] not in DLQS], ids=_id)
def test_event_example_round_trips(path: Path) -> None:
    event = decode(path.read_bytes(), MODELS)
    again = decode(encode(event), MODELS)
    assert again == event
    assert type(again) is type(event)


@pytest.mark.parametrize("path", [p for p in FILES if _parts(p)[0] not in DLQS], ids=_id)
def test_event_example_has_every_field_its_json_schema_requires(path: Path) -> None:
    event = decode(path.read_bytes(), MODELS)
    schema = json.loads((GENERATED / "jsonschema" / schema_file_name(type(event))).read_text())
    missing = set(schema["required"]) - json.loads(path.read_bytes()).keys()
    assert not missing, f"{_id(path)} lacks {sorted(missing)}, which the wire contract requires"


@pytest.mark.parametrize("path", [p for p in FILES if _parts(p)[0] in DLQS], ids=_id)
def test_dead_letter_example_parses(path: Path) -> None:
    topic_name, version = _parts(path)
    assert version == 1
    raw = json.loads(path.read_bytes())
    record = DeadLetterV1.model_validate_json(path.read_bytes())
    assert not _unknown_keys(DeadLetterV1, raw), f"{_id(path)}: fields the model ignores"
    assert record.original_topic == DLQS[topic_name].name, \
        f"{_id(path)}: a record of {record.original_topic} in {topic_name}"
    assert record.original_value() == base64.b64decode(record.payload_b64)
    assert DeadLetterV1.model_validate_json(record.model_dump_json()) == record


def test_every_model_has_an_example() -> None:
    covered = {type(decode(p.read_bytes(), MODELS)) for p in FILES if _parts(p)[0] not in DLQS}
    missing = sorted(f"{t} v{v}" for (t, v), model in MODELS.items() if model not in covered)
    assert not missing, f"models without an example under schemas/examples/: {missing}"


def test_every_topic_has_an_example_directory() -> None:
    missing = sorted(name for name in TOPICS if not (EXAMPLES / name).is_dir())
    assert not missing, f"topics without examples: {missing}"


def test_audit_access_shows_allowed_and_denied() -> None:
    outcomes = {decode(p.read_bytes(), MODELS).outcome for p in FILES if _parts(p)[0] == "audit.access"}
    assert outcomes >= {"allowed", "denied"}


def test_auth_credentials_shows_issued_and_revoked() -> None:
    types = {decode(p.read_bytes(), MODELS).type for p in FILES if _parts(p)[0] == "auth.credentials"}
    assert types >= {"auth.credential.issued", "auth.credential.revoked"}


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_example_timestamps_are_utc_with_z(path: Path) -> None:
    record = json.loads(path.read_bytes())
    stamps = {k: v for k, v in record.items() if k.endswith(("_at", "_time"))}
    assert stamps, f"{_id(path)} has no timestamp"
    bad = {k: v for k, v in stamps.items() if not (isinstance(v, str) and v.endswith("Z"))}
    assert not bad, f"{_id(path)}: timestamps not in UTC with Z: {sorted(bad)}"


def test_dead_letter_keeps_only_error_text_that_names_no_data() -> None:
    raw = b'{"type": "audit.access", "version": 1, "purpose": "\xc3\xa9 Jane Doe"}'
    common = {"topic": "audit.access", "partition": 0, "offset": 7, "key": "platform", "value": raw,
              "attempts": 3, "consumer_group": "audit", "now": datetime(2025, 1, 1, tzinfo=UTC)}
    with pytest.raises(UnknownEvent) as caught:
        decode(raw, MODELS)
    safe = DeadLetterV1.of(error=caught.value, **common)
    assert safe.error.startswith("invalid AccessV1") and safe.error_type == "UnknownEvent"
    assert safe.original_value() == raw
    leaky = DeadLetterV1.of(error=ValueError("Jane Doe " * 500), **common)
    assert "Jane" not in leaky.error and leaky.error_type == "ValueError"
    assert len(DeadLetterV1.of(error=UnknownEvent("x" * 5000), **common).error) == 1000
