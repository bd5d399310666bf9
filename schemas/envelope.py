"""The envelope every event shares, and encoding to and from Kafka bytes."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError


class TraceContext(BaseModel):
    """W3C trace context of the operation that produced the event."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    traceparent: str = Field(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
    tracestate: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every event carries. `school_id` is None only for platform-wide events
    (an operator credential, say); such events are keyed `platform`."""

    # Consumers ignore fields they do not know: versions evolve additively.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    version: int
    school_id: UUID | None
    occurred_at: AwareDatetime = Field(default_factory=_now)
    trace: TraceContext | None = None

    @property
    def key(self) -> str:
        """The Kafka key: the school id, so one school's events stay in order."""
        return str(self.school_id) if self.school_id else "platform"


class UnknownEvent(ValueError):
    """Bytes that are not a known, valid event. The message names the problem, not the data."""


def encode(event: Envelope) -> bytes:
    """Event to JSON bytes."""
    return event.model_dump_json().encode()


def decode(raw: bytes, models: dict[tuple[str, int], type[Envelope]]) -> Envelope:
    """JSON bytes to the model registered for its (type, version)."""
    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UnknownEvent(f"not JSON: {exc.__class__.__name__} at position {getattr(exc, 'pos', '?')}") from None
    if not isinstance(data, dict):
        raise UnknownEvent("not a JSON object")
    type_, version = data.get("type"), data.get("version")
    model = models.get((type_, version)) if isinstance(type_, str) and isinstance(version, int) else None
    if model is None:
        # Echo the type only when it is one of ours: an unknown one could be anything.
        known = isinstance(type_, str) and any(t == type_ for t, _ in models)
        shown = f"{type_!r} v{version!r}" if known else "not a registered event type"
        raise UnknownEvent(f"unknown event type/version: {shown}"[:200])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Field locations and error kinds only: never the input values (nor an unexpected key, which
        # is input too: it is reported at the object that has it).
        problems = "; ".join(f"{'.'.join(map(str, _loc(e)))}: {e['type']}" for e in exc.errors()[:10])
        raise UnknownEvent(f"invalid {model.__name__}: {problems}") from None


def _loc(error: Any) -> tuple:
    return error["loc"][:-1] if error["type"] == "extra_forbidden" else error["loc"]
