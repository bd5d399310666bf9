"""Pure decisions of ingest: how an upload changes a school's directory."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

# A C subclass of uuid.UUID: what asyncpg returns for uuid columns.
from asyncpg.pgproto.pgproto import UUID as FastUUID

Kind = Literal["pupil", "contact", "staff"]
KINDS: tuple[Kind, ...] = ("pupil", "contact", "staff")
ValueField = Literal["email", "mobile"]
Decision = Literal["keep", "apply", "request", "withdraw"]


@dataclass(frozen=True)
class Current:
    """What is stored for one record, as indexes and fingerprints only (nothing decrypted)."""

    record_id: UUID
    fingerprint: bytes
    values: Mapping[str, bytes | None] = field(default_factory=dict)   # confirmed email/mobile index
    pending: Mapping[str, bytes] = field(default_factory=dict)          # pending email/mobile index


@dataclass(frozen=True)
class Incoming:
    """One record of the upload, keyed by the blind index of its MIS reference."""

    ref_index: bytes
    fingerprint: bytes
    values: Mapping[str, bytes | None] = field(default_factory=dict)
    parent_ref_index: bytes | None = None   # a contact's pupil


@dataclass(frozen=True)
class ValueChange:
    """What to do with a contact's email or mobile."""

    contact_id: UUID
    field: ValueField
    decision: Decision
    ref_index: bytes


@dataclass
class Plan:
    """The whole effect of one upload; empty when the upload changes nothing."""

    added: dict[Kind, list[tuple[UUID, bytes]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    changed: dict[Kind, list[tuple[UUID, bytes]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    removed: dict[Kind, list[UUID]] = field(default_factory=lambda: {k: [] for k in KINDS})
    values: list[ValueChange] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Added / changed / removed per kind, and value changes awaiting confirmation."""
        out = {k: {"added": len(self.added[k]), "changed": len(self.changed[k]), "removed": len(self.removed[k])}
               for k in KINDS}
        out["contact"]["confirmations_requested"] = sum(v.decision == "request" for v in self.values)
        return out

    def empty(self) -> bool:
        """True if nothing would change."""
        return not any(self.added[k] or self.changed[k] or self.removed[k] for k in KINDS) and not any(
            v.decision != "keep" for v in self.values)


def decide_value(confirmed: bytes | None, pending: bytes | None, new: bytes | None) -> Decision:
    """An existing contact's email or mobile as the MIS now gives it.

    A new or different value waits for the parent (request); a value the MIS no
    longer holds stops being used at once (apply); going back to the confirmed
    value withdraws a pending change.
    """
    if new == confirmed:
        return "withdraw" if pending is not None else "keep"
    if new is None:
        return "apply"
    if new == pending:
        return "keep"
    return "request"


def plan_import(current: Mapping[Kind, Mapping[bytes, Current]],
                incoming: Mapping[Kind, Iterable[Incoming]]) -> Plan:
    """Diff an upload against the stored directory by reference and fingerprint. A kind missing
    from `incoming` (one the export does not cover) is left as it is: nothing added or removed."""
    plan = Plan()
    for kind in KINDS:
        if kind not in incoming:
            continue
        have, seen = current.get(kind, {}), set()
        records = list(incoming[kind])
        ids = new_ids(sum(rec.ref_index not in have for rec in records))
        for rec in records:
            seen.add(rec.ref_index)
            old = have.get(rec.ref_index)
            if old is None:
                plan.added[kind].append((next(ids), rec.ref_index))
                continue
            if old.fingerprint != rec.fingerprint:
                plan.changed[kind].append((old.record_id, rec.ref_index))
            if kind == "contact":
                plan.values.extend(_value_changes(old, rec))
        plan.removed[kind] = [c.record_id for ref, c in have.items() if ref not in seen]
    return plan


def new_ids(n: int) -> Iterator[UUID]:
    """`n` random (version 4) UUIDs from one read of the OS's randomness: a first import makes one
    per record, and `uuid.uuid4()` costs about 4 us each in pure Python, this about 1."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # RFC 4122 variant
    return (FastUUID(bytes(raw[i:i + 16])) for i in range(0, 16 * n, 16))


def _value_changes(old: Current, rec: Incoming) -> list[ValueChange]:
    changes = []
    for name in ("email", "mobile"):
        decision = decide_value(old.values.get(name), old.pending.get(name), rec.values.get(name))
        if decision != "keep":
            changes.append(ValueChange(old.record_id, name, decision, rec.ref_index))  # type: ignore[arg-type]
    return changes


def chunks(items: list, size: int) -> list[list]:
    """`items` in consecutive slices of at most `size` (at least one, possibly empty)."""
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]
