"""Generate the JSON Schemas and the AsyncAPI document from the event models.

    python -m schemas.generate          # (re)write schemas/generated/
    python -m schemas.generate --check  # exit 1, naming each stale file, if out of date

Schemas use pydantic's *validation* mode: they describe what a consumer accepts,
which is the contract a producer must meet (serialization mode would describe only
what our own `encode` happens to write). One tightening: `event_id`, `type`,
`version` and `occurred_at` have defaults in Python but are required on the wire,
since consumers route on type/version and deduplicate on event_id.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.dlq import DeadLetterV1
from schemas.envelope import Envelope
from schemas.registry import MODELS, TOPICS, Topic

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
GENERATED = PACKAGE / "generated"
EXAMPLES = PACKAGE / "examples"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
WIRE_REQUIRED = ("event_id", "type", "version", "occurred_at")
MODE = "validation"
KEY_SCHEMA = "MessageKey"
TRACE_HEADERS = "TraceHeaders"


# ---- JSON Schema -----------------------------------------------------------------------

def _sorted(value: Any) -> Any:
    """Dict keys sorted at every level; list order (required, enum) kept."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _require_wire_fields(model: type[BaseModel], schema: dict[str, Any]) -> dict[str, Any]:
    """Mark the envelope fields every event carries on the wire as required."""
    if issubclass(model, Envelope):
        required = set(schema.get("required", ())) | set(WIRE_REQUIRED)
        schema["required"] = [name for name in schema["properties"] if name in required]
    return schema


def type_version(model: type[BaseModel]) -> tuple[str, int]:
    """An event model's (type, version); ("dead_letter", 1) for the DLQ record."""
    if model is DeadLetterV1:
        return "dead_letter", 1
    return model.model_fields["type"].default, model.model_fields["version"].default


def schema_file_name(model: type[BaseModel]) -> str:
    """`<type>.v<version>.json`, e.g. `audit.access.v1.json` or `dead_letter.v1.json`."""
    return "{}.v{}.json".format(*type_version(model))


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The standalone JSON Schema of one model."""
    schema = _require_wire_fields(model, model.model_json_schema(mode=MODE))
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = schema_file_name(model)
    return _sorted(schema)


def _dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---- AsyncAPI --------------------------------------------------------------------------

def package_version() -> str:
    """The project version: pyproject.toml in a checkout, else the installed metadata."""
    pyproject = REPO / "pyproject.toml"
    if pyproject.exists():
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    return importlib.metadata.version("pupilpost")


def channel_id(topic_name: str) -> str:
    """The AsyncAPI channel id of a topic: `audit.access` -> `audit_access`."""
    return topic_name.replace(".", "_").replace("-", "_")


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _doc(model: type[BaseModel]) -> tuple[str, str]:
    """Summary (first paragraph, one line) and description (all) of a model's docstring."""
    full = inspect.cleandoc(model.__doc__ or model.__name__)
    return " ".join(full.split("\n\n")[0].split()), full


def load_examples(model: type[BaseModel], topic_dir: str) -> list[dict[str, Any]]:
    """AsyncAPI examples of `model` from schemas/examples/<topic_dir>/v*/ (named by path)."""
    found = []
    for path in sorted(EXAMPLES.glob(f"{topic_dir}/v*/*.json")):
        payload = json.loads(path.read_text(encoding="utf-8"))
        if model is DeadLetterV1 or (payload.get("type"), payload.get("version")) == type_version(model):
            found.append({"name": path.relative_to(EXAMPLES).with_suffix("").as_posix(), "payload": payload})
    return found


def _message(model: type[BaseModel], name: str, examples: list[dict[str, Any]]) -> dict[str, Any]:
    summary, description = _doc(model)
    event_type, version = type_version(model)
    message: dict[str, Any] = {
        "name": event_type, "title": f"{event_type} v{version}", "summary": summary,
        "description": description, "contentType": "application/json",
        "headers": _ref("components", "schemas", TRACE_HEADERS),
        "payload": _ref("components", "schemas", name),
        "bindings": {"kafka": {"key": _ref("components", "schemas", KEY_SCHEMA),
                               "bindingVersion": "0.5.0"}},
    }
    if examples:
        message["examples"] = examples
    return message


def _key_and_headers() -> dict[str, Any]:
    return {
        KEY_SCHEMA: {
            "description": "The Kafka record key: the event's school_id (canonical UUID string), or"
                           " `platform` for platform-wide events with no school. One school's"
                           " events share a partition, so they stay in order. A dead letter keeps"
                           " its original record's key.",
            "oneOf": [{"type": "string", "format": "uuid"}, {"type": "string", "const": "platform"}],
        },
        TRACE_HEADERS: {
            "description": "W3C trace context of the producing operation, as Kafka headers.",
            "type": "object",
            "properties": {
                "traceparent": {"type": "string",
                                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
                "tracestate": {"type": "string"},
            },
        },
    }


def _topic_parts(topic: Topic, names: dict[type[BaseModel], str]) -> tuple[dict, dict]:
    """The channels (topic and DLQ) and operations of one topic."""
    cid, dlq_cid = channel_id(topic.name), channel_id(topic.dlq)
    dlq_name = names[DeadLetterV1]
    channels = {
        cid: {"address": topic.name, "title": topic.name, "description": topic.description,
              "messages": {names[m]: _ref("components", "messages", names[m]) for m in topic.models},
              "bindings": {"kafka": {"topic": topic.name, "bindingVersion": "0.5.0"}}},
        dlq_cid: {"address": topic.dlq, "title": topic.dlq,
                  "description": f"Records of `{topic.name}` that a consumer could not process"
                                 " after its retries, with the reason.",
                  "messages": {dlq_name: _ref("components", "messages", dlq_name)},
                  "bindings": {"kafka": {"topic": topic.dlq, "bindingVersion": "0.5.0"}}},
    }
    messages = [_ref("channels", cid, "messages", names[m]) for m in topic.models]
    operations: dict[str, Any] = {}
    for action, services, verb in (("send", topic.producers, "publishes"),
                                   ("receive", topic.consumers, "consumes")):
        for service in sorted(services):
            operations[f"{service}_{action}_{cid}"] = {
                "action": action, "channel": _ref("channels", cid), "messages": messages,
                "summary": f"{service} {verb} {topic.name}."}
    for service in sorted(topic.consumers):
        operations[f"{service}_send_{dlq_cid}"] = {
            "action": "send", "channel": _ref("channels", dlq_cid),
            "messages": [_ref("channels", dlq_cid, "messages", dlq_name)],
            "summary": f"{service} dead-letters {topic.name} records it cannot process."}
    return channels, operations


def _components() -> tuple[dict[str, Any], dict[type[BaseModel], str]]:
    """components/schemas and components/messages, and each model's name there."""
    models: list[type[BaseModel]] = [MODELS[k] for k in sorted(MODELS)] + [DeadLetterV1]
    refs, top = models_json_schema([(m, MODE) for m in models], ref_template="#/components/schemas/{model}")
    schemas = top.get("$defs", {})
    names = {m: refs[(m, MODE)]["$ref"].rsplit("/", 1)[1] for m in models}
    for model, name in names.items():
        _require_wire_fields(model, schemas[name])
    examples = {m: load_examples(m, t.name) for t in TOPICS.values() for m in t.models}
    examples[DeadLetterV1] = [e for t in sorted(TOPICS) for e in load_examples(DeadLetterV1, TOPICS[t].dlq)]
    messages = {names[m]: _message(m, names[m], examples[m]) for m in models}
    return {"schemas": _sorted({**schemas, **_key_and_headers()}),
            "messages": dict(sorted(messages.items()))}, names


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic, its DLQ, and who sends and receives what."""
    components, names = _components()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name in sorted(TOPICS):
        topic_channels, topic_operations = _topic_parts(TOPICS[name], names)
        if channels.keys() & topic_channels.keys() or operations.keys() & topic_operations.keys():
            raise ValueError(f"topic {name} collides with another topic's channel or operation ids")
        channels.update(topic_channels)
        operations.update(topic_operations)
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Pupilpost", "version": package_version(),
                 "description": "Events between the Pupilpost services. Every topic is keyed by"
                                " school_id; personal fields travel only as ciphertext under the"
                                " school's key. Generated by `python -m schemas.generate`; do not"
                                " edit."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    }


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors or aliases, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump_yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


# ---- Writing and checking ----------------------------------------------------------------

def render() -> dict[str, str]:
    """Every generated file, by path relative to the schemas package, and its text."""
    out = {f"generated/jsonschema/{schema_file_name(m)}": _dump_json(json_schema(m))
           for m in [*MODELS.values(), DeadLetterV1]}
    out["generated/asyncapi.yaml"] = _dump_yaml(asyncapi())
    return dict(sorted(out.items()))


def _orphans(root: Path, expected: dict[str, str]) -> list[str]:
    on_disk = {p.relative_to(root).as_posix() for p in (root / "generated").rglob("*")
               if p.is_file() and p.suffix in (".json", ".yaml")}
    return sorted(on_disk - expected.keys())


def problems(root: Path = PACKAGE) -> list[str]:
    """Why the generated files under `root` are out of date; empty if current."""
    expected = render()
    found = []
    for rel, text in expected.items():
        path = root / rel
        if not path.exists():
            found.append(f"schemas/{rel} is missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"schemas/{rel} is stale")
    found += [f"schemas/{rel} is not generated from any model" for rel in _orphans(root, expected)]
    return found


def write(root: Path = PACKAGE) -> list[str]:
    """Write every generated file under `root` and delete orphans; the paths that changed."""
    expected, changed = render(), []
    for rel, text in expected.items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
            changed.append(f"schemas/{rel}")
    for rel in _orphans(root, expected):
        (root / rel).unlink()
        changed.append(f"schemas/{rel} (deleted)")
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: write, or with --check verify, the generated contract files."""
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if any generated file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for problem in found:
            print(f"{problem}: run `python -m schemas.generate` and commit the result", file=sys.stderr)
        return 1 if found else 0
    changed = write()
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("schemas/generated/ is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
