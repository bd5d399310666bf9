"""The checked-in JSON Schemas and AsyncAPI document are current and cover the registry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import generate
from schemas.dlq import DeadLetterV1
from schemas.registry import MODELS, TOPICS

REGENERATE = "python -m schemas.generate"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load((generate.GENERATED / "asyncapi.yaml").read_text(encoding="utf-8"))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_generated_files_are_current() -> None:
    problems = generate.problems()
    assert not problems, "\n".join(problems) + f"\nrun `{REGENERATE}` and commit the result"


def test_check_mode_names_a_stale_file(tmp_path: Path) -> None:
    generate.write(tmp_path)
    assert generate.problems(tmp_path) == []
    (tmp_path / "generated" / "asyncapi.yaml").write_text("asyncapi: 3.0.0\n")
    (tmp_path / "generated" / "jsonschema" / "audit.access.v1.json").unlink()
    (tmp_path / "generated" / "jsonschema" / "gone.v9.json").write_text("{}\n")
    assert generate.problems(tmp_path) == [
        "schemas/generated/asyncapi.yaml is stale",
        "schemas/generated/jsonschema/audit.access.v1.json is missing",
        "schemas/generated/jsonschema/gone.v9.json is not generated from any model",
    ]
    generate.write(tmp_path)
    assert generate.problems(tmp_path) == []


def test_check_command_exits_zero_when_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_output_is_deterministic() -> None:
    assert generate.render() == generate.render()


def test_every_model_has_a_json_schema() -> None:
    for model in [*MODELS.values(), DeadLetterV1]:
        path = generate.GENERATED / "jsonschema" / generate.schema_file_name(model)
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["title"] == model.__name__
        assert set(schema["properties"]) == set(model.model_fields)


def test_envelope_fields_are_required_on_the_wire() -> None:
    for (type_, version) in MODELS:
        schema = json.loads((generate.GENERATED / "jsonschema" / f"{type_}.v{version}.json").read_text())
        assert set(generate.WIRE_REQUIRED) | {"school_id"} <= set(schema["required"]), type_


def test_asyncapi_header(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "Pupilpost"
    assert doc["info"]["version"] == generate.package_version()


def test_asyncapi_names_every_topic_and_its_dlq(doc: dict[str, Any]) -> None:
    addresses = {c["address"]: c for c in doc["channels"].values()}
    for topic in TOPICS.values():
        assert topic.name in addresses, f"no channel for {topic.name}"
        assert topic.dlq in addresses, f"no channel for {topic.dlq}"
        carried = {_resolve(doc, m["$ref"])["name"] for m in addresses[topic.name]["messages"].values()}
        assert carried == {m.model_fields["type"].default for m in topic.models}
        dlq_payloads = [_resolve(doc, m["$ref"])["payload"]["$ref"]
                        for m in addresses[topic.dlq]["messages"].values()]
        assert dlq_payloads == ["#/components/schemas/DeadLetterV1"]


def test_asyncapi_has_an_operation_per_producer_and_consumer(doc: dict[str, Any]) -> None:
    def op(service: str, action: str, address: str) -> None:
        name = f"{service}_{action}_{generate.channel_id(address)}"
        assert name in doc["operations"], f"no operation {name}"
        assert doc["operations"][name]["action"] == action, name
        assert _resolve(doc, doc["operations"][name]["channel"]["$ref"])["address"] == address, name

    for topic in TOPICS.values():
        for service in topic.producers:
            op(service, "send", topic.name)
        for service in topic.consumers:
            op(service, "receive", topic.name)
            op(service, "send", topic.dlq)


def test_operations_only_use_their_channels_messages(doc: dict[str, Any]) -> None:
    for name, op in doc["operations"].items():
        channel = op["channel"]["$ref"]
        for message in op["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        _resolve(doc, ref)


def test_message_key_is_the_school_id(doc: dict[str, Any]) -> None:
    for name, message in doc["components"]["messages"].items():
        key = _resolve(doc, message["bindings"]["kafka"]["key"]["$ref"])
        assert "school_id" in key["description"], name
        assert {"format": "uuid", "type": "string"} in key["oneOf"]
