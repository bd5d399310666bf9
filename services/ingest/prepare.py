"""The CPU-bound first step of an import: inflate, validate and index a roster.

Pure: no I/O, no clock, no connection; everything it needs is passed in, and it returns
plain values that pickle cheaply. So the importer can run it in a worker process (large
rosters) or inline (small ones) and get the same result. Plaintext personal data and the
school's blind-index key exist in the worker only for the length of the call.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from pupilpost.crypto import BlindIndexer
from pupilpost.mis.roster import PART_OF, Roster
from pupilpost.mis.validate import validate
from services.ingest import directory_store as ds
from services.ingest.logic import Incoming, Kind

BODY_EXCLUDE = {"pupil": {"source_row"}, "contact": {"source_row", "email", "mobile"}, "staff": {"source_row"}}
_LISTS: tuple[tuple[Kind, str], ...] = (("pupil", "pupils"), ("contact", "contacts"), ("staff", "staff"))
_DUMP_EXCLUDE = {plural: {"__all__": BODY_EXCLUDE[kind]} for kind, plural in _LISTS}


class RosterTooLarge(ValueError):
    """The decompressed roster exceeds the configured limit."""


class Record(NamedTuple):
    """One incoming record and what the import derived from it (plaintext stays in memory)."""

    body: str                          # canonical JSON: no source_row; a contact's without email/mobile
    fingerprint: bytes
    parent: bytes | None               # a contact's pupil's reference index
    values: dict[str, bytes | None]    # a contact's email/mobile blind indexes
    columns: dict[str, Any]            # stored in the clear: year/reg group; a contact's priority
    email: str | None = None           # a contact's, stored encrypted on its own
    mobile: str | None = None
    state: str | None = None           # a contact's full state JSON (body with email and mobile), for events


@dataclass(frozen=True)
class Prepared:
    """A checked roster as the importer needs it; `records` is None when the upload is refused."""

    counts: dict[str, int]
    problems: list[dict[str, Any]]                 # record, row, field, reason: never a value
    incoming: dict[Kind, list[Incoming]] | None = None
    records: dict[bytes, Record] | None = None     # keyed by kind + reference index
    digest: bytes | None = None                    # sha256 of the normalised roster, generated_at left out


def started() -> bool:
    """Nothing: a worker process that can run it has imported this module and is ready."""
    return True


def inflate(data: bytes, limit: int) -> bytes:
    """gunzip with a ceiling on the output (a decompression bomb is refused)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise RosterTooLarge(f"the roster is larger than {limit} bytes once decompressed")
    return out


def prepare(compressed: bytes, limit: int, urn: str, index_key: bytes) -> Prepared:
    """Inflate and validate an upload for school `urn`; if it may be imported, index every record."""
    try:
        checked = validate(inflate(compressed, limit), expected_urn=urn)
    except (RosterTooLarge, zlib.error) as exc:
        return Prepared({}, [{"record": "roster", "row": None, "field": None, "reason": str(exc)}])
    counts = dict(checked.counts)
    if checked.roster is None:
        return Prepared(counts, [{k: asdict(p)[k] for k in ("record", "row", "field", "reason")}
                                 for p in checked.problems])
    incoming, records = index_records(index_key, checked.roster)
    digest = hashlib.sha256(checked.roster.model_dump_json(exclude={"generated_at"}).encode()).digest()
    return Prepared(counts, [], incoming, records, digest)


def index_records(index_key: bytes, roster: Roster) -> tuple[dict[Kind, list[Incoming]], dict[bytes, Record]]:
    """Every record's reference index, body and fingerprint, under the school's blind-index key."""
    index = BlindIndexer(index_key)
    dumped = roster.model_dump(mode="json", include=set(_DUMP_EXCLUDE), exclude=_DUMP_EXCLUDE)
    # Only the kinds the export covers: the diff leaves the others as they are (see Roster.covers).
    covers = roster.covers or ()
    out: dict[Kind, list[Incoming]] = {kind: [] for kind, plural in _LISTS if PART_OF[plural] in covers}
    records: dict[bytes, Record] = {}
    pupil_index: dict[str, bytes] = {}
    for kind, plural in _LISTS:
        if kind not in out:
            continue
        for rec, data in zip(getattr(roster, plural), dumped[plural], strict=True):
            ref = f"{rec.pupil_ref}\x00{rec.ref}" if kind == "contact" else rec.ref
            ref_index = index(f"ref.{kind}", ref)
            body = ds.as_json(data)
            fingerprint = index(f"fp.{kind}", body)
            if kind == "contact":
                values = {f: (index(f, v.lower()) if v else None) for f, v in (("email", rec.email),
                                                                               ("mobile", rec.mobile))}
                parent = pupil_index[rec.pupil_ref]
                state = ds.as_json({**data, "email": rec.email or None, "mobile": rec.mobile or None})
                record = Record(body, fingerprint, parent, values, {"priority": rec.priority}, rec.email,
                                rec.mobile, state)
            else:
                values, parent = {}, None
                columns = {"year_group": rec.year_group, "reg_group": rec.reg_group} if kind == "pupil" else {}
                record = Record(body, fingerprint, None, values, columns)
            if kind == "pupil":
                pupil_index[rec.ref] = ref_index
            out[kind].append(Incoming(ref_index, fingerprint, values, parent))
            records[kind.encode() + ref_index] = record
    return out, records
