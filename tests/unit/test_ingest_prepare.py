"""Preparing an upload (inflate, validate, index) gives the same result inline, in a thread
and in the importer's worker processes; a refused roster is reported without values."""
from __future__ import annotations

import asyncio
import gzip
import os
from datetime import UTC, datetime

from pupilpost.mis.roster import ContactRecord, PupilRecord, Roster
from services.ingest.importer import Importer
from services.ingest.prepare import prepare

URN = "131652"
KEY = os.urandom(32)


def roster(email: str = "jo.bloggs@example.org") -> bytes:
    pupils = tuple(PupilRecord(ref=f"A{i}", legal_forename="Amira", legal_surname="Wright", gender="F",
                               date_of_birth="2016-03-01", year_group="Y04", source_row=i + 2) for i in range(3))
    contacts = tuple(ContactRecord(pupil_ref=f"A{i}", ref="1", surname="Wright", relationship="Mother",
                                   parental_responsibility=True, priority=1, email=email if i == 1 else None,
                                   mobile="07700 900123", source_row=i + 2) for i in range(3))
    r = Roster(school_urn=URN, source="csv", generated_at=datetime(2025, 1, 15, tzinfo=UTC), pupils=pupils,
               contacts=contacts)
    return gzip.compress(r.model_dump_json().encode())


def test_a_valid_roster_is_indexed():
    p = prepare(roster(), 10**7, URN, KEY)
    assert p.problems == [] and p.counts["contacts"] == 3 and len(p.records) == 6 and p.digest
    contact = next(r for k, r in p.records.items() if k.startswith(b"contact"))
    assert '"email"' not in contact.body and contact.mobile == "+447700900123"
    assert '"mobile":"+447700900123"' in contact.state


def test_a_refused_roster_is_reported_by_row_and_field_without_its_value():
    p = prepare(roster(email="jo@@example.org"), 10**7, URN, KEY)
    assert p.records is None and p.problems == [
        {"record": "contact", "row": 3, "field": "email", "reason": "is not a valid email address"}]
    assert prepare(b"not gzip", 10**7, URN, KEY).problems[0]["record"] == "roster"
    assert "larger than 10 bytes" in prepare(roster(), 10, URN, KEY).problems[0]["reason"]


async def test_worker_processes_prepare_exactly_what_inline_does():
    importer = Importer(None, 1, 10**7, processes=1, process_min_bytes=0)  # type: ignore[arg-type]
    try:
        expected = prepare(roster(), 10**7, URN, KEY)
        assert await importer.prepare(roster(), URN, KEY) == expected  # workers starting: a thread
        for _ in range(300):
            if importer._warm_pool() is not None:
                break
            await asyncio.sleep(0.05)
        assert importer._warm_pool() is not None
        assert await importer.prepare(roster(), URN, KEY) == expected  # in a worker process
        bad = await importer.prepare(roster(email="x@"), URN, KEY)
        assert bad.records is None and bad.problems[0]["field"] == "email"
    finally:
        await importer.stop()
