"""Pure decisions of the audit service: the hash chain."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from schemas.audit import AccessV1

PLATFORM_CHAIN = UUID(int=0)
GENESIS = bytes(32)
FIELDS = ("record_id", "chain", "seq", "school_id", "occurred_at", "actor_id", "actor_kind", "tier",
          "service", "resource", "action", "purpose", "outcome", "trace_id")


def chain_of(school_id: UUID | None) -> UUID:
    """The chain a record belongs to: its school's, or the platform's."""
    return school_id or PLATFORM_CHAIN


def record_fields(evt: AccessV1, seq: int) -> dict[str, Any]:
    """The chained fields of an access event at position `seq`."""
    return {"record_id": evt.event_id, "chain": chain_of(evt.school_id), "seq": seq,
            "school_id": evt.school_id, "occurred_at": evt.occurred_at, "actor_id": evt.actor_id,
            "actor_kind": evt.actor_kind, "tier": evt.tier, "service": evt.service,
            "resource": evt.resource, "action": evt.action, "purpose": evt.purpose,
            "outcome": evt.outcome, "trace_id": evt.trace_id}


def _canonical(fields: Mapping[str, Any]) -> bytes:
    def norm(v: Any) -> Any:
        if v is None or isinstance(v, int | str):
            return v
        if hasattr(v, "isoformat"):
            return v.isoformat(timespec="microseconds")
        return str(v)
    return json.dumps({k: norm(fields[k]) for k in FIELDS}, sort_keys=True, separators=(",", ":")).encode()


def record_hash(prev_hash: bytes, fields: Mapping[str, Any]) -> bytes:
    """SHA-256 over the previous hash and the record's canonical form."""
    return hashlib.sha256(bytes(prev_hash) + _canonical(fields)).digest()


def first_break(records: Iterable[Mapping[str, Any]], prev: bytes = GENESIS,
                start_seq: int = 1) -> int | None:
    """The seq of the first record whose link or hash does not check out, else None.

    Records are one chain in seq order, continuing after a record with hash `prev`
    at `start_seq - 1` (the genesis by default), so a long chain is checked page by page.
    """
    expected_seq = start_seq
    for rec in records:
        if rec["seq"] != expected_seq or bytes(rec["prev_hash"]) != prev:
            return rec["seq"]
        if record_hash(prev, rec) != bytes(rec["hash"]):
            return rec["seq"]
        prev, expected_seq = bytes(rec["hash"]), expected_seq + 1
    return None
