"""The CSV parser: realistic exports, every refusal as a clear problem, and round-trip properties."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pupilpost.mis.csv_format import CONTACT_COLUMNS, PUPIL_COLUMNS, STAFF_COLUMNS, read_csv
from pupilpost.mis.parse import ParseResult, read_export
from pupilpost.mis.roster import ContactRecord, PupilRecord, Roster, StaffRecord
from pupilpost.mis.validate import Problem, validate
from tests.fixtures.mis_fixtures import (
    FIXTURE_NOW, NOISE, SCHOOLS, csv_files, main, make_csv, make_export, make_zip,
)

URN = SCHOOLS[0].urn
NOW = FIXTURE_NOW


def parse(data: bytes, **kw: Any) -> ParseResult:
    return read_csv(data, school_urn=URN, now=NOW, **kw)


def roster_of(data: bytes) -> Roster:
    result = parse(data)
    assert result.problems == [] and isinstance(result.roster, Roster), result.problems
    return result.roster


def refusal(data: bytes, **kw: Any) -> Problem:
    result = parse(data, **kw)
    assert result.roster is None and len(result.problems) == 1, result
    assert result.problems[0].record == "roster"
    return result.problems[0]


def checked(data: bytes, urn: str = URN):
    return validate(roster_of(data), expected_urn=urn, now=NOW)


# -- realistic exports -------------------------------------------------------------------------------

@pytest.mark.parametrize("school", SCHOOLS[:3], ids=lambda s: s.urn)
def test_a_schools_zip_export_imports_whole(school):
    export = make_export(school.urn, pupils=150)
    parsed = read_csv(make_zip(school.urn, pupils=150), school_urn=school.urn, now=NOW)
    result = validate(parsed.roster, expected_urn=school.urn, now=NOW)
    assert result.problems == []
    assert result.counts == {"pupils": 150, "contacts": export.importable_contacts, "staff": len(export.staff),
                             "excluded_opt_out": export.opted_out}
    assert export.opted_out > 0


def test_pupils_and_contacts_are_read_field_by_field():
    export = make_export(URN, pupils=60)
    r = roster_of(make_csv(URN, pupils=60)[0])
    by_ref = {p.ref: p for p in r.pupils}
    for p in export.pupils:
        got = by_ref[p.upn]
        assert (got.upn, got.admission_number, got.legal_forename, got.legal_surname, got.gender,
                got.date_of_birth, got.year_group, got.reg_group) == (
            p.upn, p.admission_number, p.legal_forename, p.legal_surname, p.gender, p.dob, p.year_group,
            p.reg_group)
    want = {(p.upn, c.contact_id, c.priority, c.email, c.mobile) for p, c in export.contact_rows() if c.priority != 9}
    assert {(c.pupil_ref, c.ref, c.priority, c.email, c.mobile) for c in r.contacts} == want


def test_siblings_share_a_parent():
    r = roster_of(make_csv(URN, pupils=100)[0])
    pupils_per_contact: dict[str, set[str]] = {}
    for c in r.contacts:
        pupils_per_contact.setdefault(c.ref, set()).add(c.pupil_ref)
    assert any(len(p) > 1 for p in pupils_per_contact.values())


def test_source_row_is_the_line_in_the_file():
    pupils_csv = make_csv(URN, pupils=5, noise_columns=False)[0]
    lines = pupils_csv.decode().splitlines()
    r = roster_of(pupils_csv)
    for c in r.contacts:
        assert lines[c.source_row - 1].startswith(c.pupil_ref) and c.ref in lines[c.source_row - 1]
    assert r.pupils[0].source_row == 2


def test_a_quoted_cell_over_two_lines_keeps_later_line_numbers():
    text = _pupils_csv([_row(upn="A1", legal_surname="Two\nLines"), _row(upn="A2")])
    r = roster_of(text)
    assert [p.source_row for p in r.pupils] == [2, 4]


@pytest.mark.parametrize("edge", ["bom", "crlf", "dmy_dates", "title_case_header"])
def test_encodings_and_layouts_read_the_same(edge):
    plain = roster_of(make_csv(URN, pupils=40)[0])
    assert roster_of(make_csv(URN, pupils=40, **{edge: True})[0]) == plain


def test_names_with_apostrophes_hyphens_and_diacritics_survive():
    r = roster_of(make_csv(URN, pupils=20, unusual_names=True)[0])
    surnames = {p.legal_surname for p in r.pupils} | {c.surname for c in r.contacts}
    assert {"O'Brien", "Nguyễn", "Smith-Jones", "Ní Bhriain"} <= surnames
    assert "Zoë" in {p.legal_forename for p in r.pupils}
    assert checked(make_csv(URN, pupils=20, unusual_names=True)[0]).problems == []


def test_columns_not_documented_are_never_read():
    pupils_csv, _ = make_csv(URN, pupils=30)
    assert NOISE.encode() in pupils_csv
    r = roster_of(pupils_csv)
    assert NOISE not in r.model_dump_json()


def test_missing_emails_are_fine():
    result = checked(make_csv(URN, pupils=30, missing_emails=True)[0])
    assert result.problems == [] and any(c.email is None for c in result.roster.contacts)


def test_staff_file_alone():
    export = make_export(URN, pupils=24)
    r = roster_of(make_csv(URN, pupils=24)[1])
    assert r.pupils == () and len(r.staff) == len(export.staff) and r.staff[0].role == "Headteacher"
    assert r.covers == ("staff",)  # the import leaves the pupils and contacts as they are
    assert validate(r, expected_urn=URN, now=NOW).problems == []


def test_an_export_covers_exactly_the_files_it_holds():
    pupils_csv, staff_csv = make_csv(URN, pupils=24)
    assert roster_of(pupils_csv).covers == ("pupils",)
    assert roster_of(_zip({"pupils.csv": pupils_csv, "staff.csv": staff_csv})).covers == ("pupils", "staff")


def test_a_pupil_with_no_contacts_has_one_row_with_blank_contact_columns():
    r = roster_of(_pupils_csv([_row(upn="A1", **dict.fromkeys(CONTACT_COLUMNS, ""))]))
    assert len(r.pupils) == 1 and r.contacts == ()


def test_admission_number_is_the_ref_without_a_upn():
    r = roster_of(_pupils_csv([_row(upn="", admission_number="004512")]))
    assert r.pupils[0].ref == "004512" and r.contacts[0].pupil_ref == "004512"


def test_without_contact_id_the_ref_is_the_priority():
    r = roster_of(_pupils_csv([_row(contact_id="", contact_priority="2"),
                               _row(contact_id="", contact_priority="1", contact_surname="Other")]))
    assert [c.ref for c in r.contacts] == ["2", "1"]


def test_header_names_ignore_case_and_spaces():
    text = _pupils_csv([_row()]).decode().replace("legal_forename", " Legal Forename ").replace(
        "contact_email", "CONTACT-EMAIL")
    assert roster_of(text.encode()).pupils[0].legal_forename == "Amira"


# -- opt-out at source --------------------------------------------------------------------------------

def test_priority_9_contacts_are_left_out_and_counted():
    r = roster_of(_pupils_csv([_row(), _row(contact_id="C2", contact_priority="9", contact_email="bad@@x"),
                               _row(contact_id="C3", contact_priority=" 09 ", contact_surname="")]))
    assert [c.ref for c in r.contacts] == ["C1"] and r.excluded_opt_out == 2


# -- problems ------------------------------------------------------------------------------------------

def test_missing_columns_are_named():
    p = refusal(make_csv(URN, pupils=10, missing_columns=True)[0])
    assert p.reason == "the pupils file is missing required columns: date_of_birth, contact_priority"
    p = refusal(make_csv(URN, pupils=10, missing_columns=True)[1])
    assert p.reason == "the staff file is missing required columns: role"


def test_a_pupils_file_needs_upn_or_admission_number():
    text = _pupils_csv([_row()], columns=[c for c in PUPIL_COLUMNS + CONTACT_COLUMNS
                                          if c not in ("upn", "admission_number")])
    assert refusal(text).reason.endswith("missing required columns: upn or admission_number")


def test_a_staff_file_without_staff_id_is_told_so():
    assert refusal(b"Forename,Surname,Email,Mobile,Role\nJo,Bloggs,,,Teacher\n").reason == \
        "the staff file is missing required columns: staff_id"


def test_a_file_that_is_neither_pupils_nor_staff():
    assert "neither the pupils columns nor the staff columns" in refusal(b"name,address\nJo,1 High St\n").reason


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n"])
def test_an_empty_file_is_refused(data):
    assert refusal(data).reason == "a CSV file is empty"


def test_a_header_only_file_has_no_records():
    pupils_csv, staff_csv = make_csv(URN, pupils=10, empty=True)
    for data in (pupils_csv, staff_csv):
        assert checked(data).problems == [Problem("roster", None, None, "the file has no records")]


def test_rows_wider_or_narrower_than_the_header():
    text = _pupils_csv([_row()]) + b"A2,1,Jo\n"
    assert refusal(text).reason == "line 3 has 3 cells but the header has 19"


def test_a_repeated_column():
    text = _pupils_csv([_row()], columns=[*PUPIL_COLUMNS, *CONTACT_COLUMNS, "upn"])
    assert refusal(text).reason == "the pupils file's header repeats columns: upn"


def test_text_that_is_not_utf8():
    text = _pupils_csv([_row()]) + "A2,Zoë".encode("latin-1") + b"\n"
    assert refusal(text).reason == 'a CSV file is not UTF-8 text (line 3); save it as "CSV UTF-8"'
    assert "UTF-16" in refusal(_pupils_csv([_row()]).decode().encode("utf-16")).reason


def test_an_unterminated_quote():
    assert "malformed near line" in refusal(_pupils_csv([_row()]) + b'A2,"Jo\n').reason


def test_a_pupil_whose_rows_disagree():
    result = parse(_pupils_csv([_row(), _row(contact_id="C2", contact_priority="2", date_of_birth="2014-07-27")]))
    assert result.problems == [Problem("pupil", 3, "date_of_birth", "differs from the pupil's first row (line 2)")]


def test_a_row_without_upn_or_admission_number():
    result = parse(_pupils_csv([_row(), _row(upn="", admission_number="")]))
    assert result.problems == [Problem("pupil", 3, "upn", "the row has neither a UPN nor an admission number")]


def test_fields_that_do_not_fit_the_schema_come_back_as_problems_with_the_dict():
    result = parse(_pupils_csv([_row(gender="Q", contact_priority="high")]))
    assert isinstance(result.roster, dict) and not result.ok
    assert {(p.record, p.row, p.field) for p in result.problems} == {("pupil", 2, "gender"),
                                                                     ("contact", 2, "priority")}


@pytest.mark.parametrize("edge,record,field,reason", [
    ("landline_mobile", "contact", "mobile", "is a landline number, not a mobile number"),
    ("invalid_email", "contact", "email", "is not a valid email address"),
    ("two_priority_one", "contact", "priority", "two contacts with priority 1"),
])
def test_bad_values_are_reported_and_nothing_imports(edge, record, field, reason):
    result = checked(make_csv(URN, pupils=40, **{edge: True})[0])
    assert result.roster is None
    assert {(p.record, p.field, p.reason) for p in result.problems} == {(record, field, reason)}


def test_a_roster_made_for_another_school_is_refused():
    # A CSV carries no URN: the roster takes the one the extractor was given, and the server checks it.
    other = read_csv(make_csv(URN, pupils=5)[0], school_urn=SCHOOLS[1].urn, now=NOW)
    assert other.roster.school_urn == SCHOOLS[1].urn
    assert validate(other.roster, expected_urn=URN, now=NOW).problems == [
        Problem("roster", None, "school_urn", "the file belongs to another school")]


def test_a_file_over_the_size_limit():
    assert refusal(make_csv(URN, pupils=10)[0], max_bytes=1000).reason == "the file is larger than 1000 bytes"


# -- zip archives -------------------------------------------------------------------------------------

def test_zip_members_are_told_apart_by_header_not_name():
    pupils_csv, staff_csv = make_csv(URN, pupils=12)
    r = roster_of(_zip({"a.CSV": staff_csv, "b.csv": pupils_csv}))
    assert len(r.pupils) == 12 and len(r.staff) == 5


@pytest.mark.parametrize("archive,reason", [
    (make_zip(URN, 20, truncated=True), "the zip archive is truncated or corrupt"),
    (b"PK\x03\x04" + b"\x00" * 40, "the zip archive is truncated or corrupt"),
    (make_zip(URN, 20, non_csv=True), "the zip archive holds a file that is not .csv"),
    (make_zip(URN, 20, nested=True),
     "the zip archive has folders or nested paths; put pupils.csv and staff.csv at its top"),
], ids=["truncated", "header-only", "non-csv", "nested"])
def test_bad_archives_are_refused(archive, reason):
    assert refusal(archive).reason == reason


def test_more_archive_refusals():
    pupils_csv, staff_csv = make_csv(URN, pupils=5)
    assert refusal(_zip({})).reason == "the zip archive is empty"
    assert refusal(_zip({"a.csv": pupils_csv, "b.csv": pupils_csv})).reason == "the zip archive holds two pupils files"
    assert "more than two files" in refusal(_zip({"a.csv": pupils_csv, "b.csv": staff_csv, "c.csv": b""})).reason
    assert "nested paths" in refusal(_zip({"../pupils.csv": pupils_csv})).reason


def test_an_encrypted_member_is_refused():
    archive = bytearray(_zip({"pupils.csv": make_csv(URN, pupils=3)[0]}))
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag in both headers
        at = archive.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        archive[flag_at] |= 0x1
    assert refusal(bytes(archive)).reason == "the zip archive is encrypted"


def test_a_zip_bomb_is_refused_by_its_declared_size():
    archive = make_zip(URN, 10, bomb_bytes=4 * 2**20)
    assert len(archive) < 200_000
    assert refusal(archive, max_bytes=2**20).reason == "the zip archive expands to more than 1 MB"


def test_a_zip_declaring_more_than_the_default_limit_is_refused_before_reading():
    archive = bytearray(make_zip(URN, 2))
    at = archive.rfind(b"pupils.csv") - 46 + 24  # the central directory's "uncompressed size" of pupils.csv
    archive[at:at + 4] = (201 * 2**20).to_bytes(4, "little")
    assert refusal(bytes(archive)).reason == "the zip archive expands to more than 200 MB"


def test_a_zip_that_lies_about_its_size_still_stops_at_the_limit():
    archive = bytearray(make_zip(URN, 5, bomb_bytes=3 * 2**20))
    at = archive.rfind(b"pupils.csv") - 46 + 24  # the central directory's "uncompressed size" of pupils.csv
    archive[at:at + 4] = (100).to_bytes(4, "little")
    result = parse(bytes(archive), max_bytes=2 * 2**20)
    assert result.roster is None and result.problems[0].record == "roster"


def test_paths_and_read_export(tmp_path: Path):
    (tmp_path / "export.zip").write_bytes(make_zip(URN, 10))
    (tmp_path / "pupils.csv").write_bytes(make_csv(URN, 10)[0])
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    assert len(read_export(tmp_path / "export.zip", "csv", school_urn=URN, now=NOW).roster.staff) == 5
    assert len(read_csv(tmp_path / "pupils.csv", school_urn=URN, now=NOW).roster.pupils) == 10
    assert read_csv(tmp_path / "broken.zip", school_urn=URN, now=NOW).problems[0].reason == \
        "the zip archive is truncated or corrupt"
    assert read_export(tmp_path / "pupils.csv", "csv", school_urn=None, now=NOW).problems[0].field == "school_urn"
    with pytest.raises(FileNotFoundError):
        read_csv(tmp_path / "missing.csv", school_urn=URN, now=NOW)


# -- properties ----------------------------------------------------------------------------------------

names = st.text(st.characters(categories=("L", "M", "N", "P", "Zs")), min_size=1, max_size=20).map(
    str.strip).filter(bool)
optional = st.one_of(st.none(), names)
upn_refs = st.tuples(st.sampled_from("ABCDEFGHJKLMNPQRTUVWXYZ"), st.integers(0, 10**12 - 1)).map(
    lambda t: f"{t[0]}{t[1]:012d}")


@st.composite
def rosters(draw: st.DrawFn) -> tuple[list[PupilRecord], list[ContactRecord], list[StaffRecord]]:
    """Pupils (UPN or admission number), contacts (some opted out, some without contact_id), staff."""
    upns = draw(st.lists(upn_refs, max_size=4, unique=True))
    admissions = draw(st.lists(st.integers(0, 10**8).map(str), max_size=2, unique=True))
    pupils, contacts = [], []
    for ref in upns + admissions:
        is_upn = ref in upns
        pupils.append(PupilRecord(
            ref=ref, upn=ref if is_upn else None, admission_number=draw(st.one_of(st.none(), st.just("1")))
            if is_upn else ref, legal_forename=draw(names), legal_surname=draw(names),
            preferred_forename=draw(optional), preferred_surname=draw(optional),
            gender=draw(st.sampled_from("MFUX")), date_of_birth=draw(st.dates(date(1990, 1, 1), date(2024, 1, 1))),
            year_group=draw(st.sampled_from(["N1", "N2", "R", "1", "9", "14", "X"])), reg_group=draw(optional)))
        for priority in draw(st.lists(st.integers(1, 9), max_size=3, unique=True)):
            contact_id = draw(st.one_of(st.none(), st.integers(0, 999).map(lambda n: f"C{n}")))
            contacts.append(ContactRecord(
                pupil_ref=ref, ref=contact_id or str(priority), title=draw(optional), forename=draw(optional),
                surname=draw(names), relationship=draw(names), parental_responsibility=draw(st.booleans()),
                priority=priority, email=draw(optional), mobile=draw(optional)))
    staff = [StaffRecord(ref=f"S{i}", title=draw(optional), forename=draw(names), surname=draw(names),
                         email=draw(optional), mobile=draw(optional), role=draw(names))
             for i in range(draw(st.integers(0 if pupils else 1, 3)))]
    # Contact ids are unique per pupil, and a contact without one must not clash with another's priority.
    seen: set[tuple[str, str]] = set()
    unique = [c for c in contacts if (c.pupil_ref, c.ref) not in seen and not seen.add((c.pupil_ref, c.ref))]
    return pupils, unique, staff


def write_csvs(pupils, contacts, staff, dmy: bool, order: list[str]) -> tuple[bytes, bytes]:
    rows = []
    for p in pupils:
        theirs = [c for c in contacts if c.pupil_ref == p.ref]
        dob = p.date_of_birth.strftime("%d/%m/%Y") if dmy else p.date_of_birth.isoformat()
        pupil = {**p.model_dump(exclude={"ref", "source_row"}), "date_of_birth": dob}
        for c in theirs or [None]:
            contact = {} if c is None else {
                "contact_id": "" if c.ref == str(c.priority) else c.ref, "contact_title": c.title,
                "contact_forename": c.forename, "contact_surname": c.surname, "relationship": c.relationship,
                "parental_responsibility": "Y" if c.parental_responsibility else "N",
                "contact_priority": c.priority, "contact_email": c.email, "contact_mobile": c.mobile}
            rows.append({**pupil, **contact})
    staff_rows = [{**s.model_dump(exclude={"ref", "source_row"}), "staff_id": s.ref} for s in staff]
    return _csv(order, rows), _csv(list(STAFF_COLUMNS), staff_rows)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rosters(), st.booleans(), st.permutations(PUPIL_COLUMNS + CONTACT_COLUMNS))
def test_round_trip_through_the_documented_columns(case, dmy, order):
    pupils, contacts, staff = case
    pupils_csv, staff_csv = write_csvs(pupils, contacts, staff, dmy, list(order))
    result = parse(_zip({"pupils.csv": pupils_csv, "staff.csv": staff_csv}))
    assert result.problems == [] and isinstance(result.roster, Roster)
    assert strip(result.roster.pupils) == pupils
    assert strip(result.roster.contacts) == [c for c in contacts if c.priority != 9]
    assert strip(result.roster.staff) == staff
    assert result.excluded_opt_out == result.roster.excluded_opt_out == sum(c.priority == 9 for c in contacts)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rosters())
def test_priority_9_never_appears_in_the_output(case):
    pupils, contacts, staff = case
    pupils_csv, _ = write_csvs(pupils, contacts, staff, False, list(PUPIL_COLUMNS + CONTACT_COLUMNS))
    result = parse(pupils_csv)
    raw = result.roster if isinstance(result.roster, dict) else result.roster.model_dump()
    assert all(int(c["priority"]) != 9 for c in raw["contacts"])


def strip(records: tuple[Any, ...]) -> list[Any]:
    return [r.model_copy(update={"source_row": None}) for r in records]


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    def mutate(edits: list[tuple[int, int]]) -> bytes:
        data = bytearray(base)
        for at, byte in edits:
            data[at % len(data)] = byte
        return bytes(data)
    return st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8).map(mutate)


SMALL_ZIP = make_zip(URN, 3)
SMALL_CSV = make_csv(URN, 3)[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=600), _mutations(SMALL_ZIP), _mutations(SMALL_CSV),
                 st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b)))
def test_arbitrary_bytes_never_crash_the_parser(data):
    result = parse(data)
    assert isinstance(result, ParseResult)
    assert result.ok or result.problems
    if result.problems:
        json.dumps([p.__dict__ for p in result.problems])


# -- helpers -------------------------------------------------------------------------------------------

def _row(**kw: str) -> dict[str, str]:
    base = {"upn": "A204200118001", "admission_number": "000001", "legal_forename": "Amira",
            "legal_surname": "Wright", "preferred_forename": "", "preferred_surname": "", "gender": "F",
            "date_of_birth": "2014-07-26", "year_group": "6", "reg_group": "6W", "contact_id": "C1",
            "contact_title": "Ms", "contact_forename": "Florence", "contact_surname": "Wright",
            "relationship": "Mother", "parental_responsibility": "Y", "contact_priority": "1",
            "contact_email": "florence.wright@example.org", "contact_mobile": "07700 900444"}
    return {**base, **kw}


def _pupils_csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    return _csv(columns or list(PUPIL_COLUMNS + CONTACT_COLUMNS), rows)


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue().encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_fixture_export_writes_what_the_parser_documents():
    export = make_export(URN, pupils=10)
    pupils_csv, staff_csv = csv_files(export, noise_columns=False)
    header = pupils_csv.decode().splitlines()[0].split(",")
    assert header == list(PUPIL_COLUMNS + CONTACT_COLUMNS)
    assert staff_csv.decode().splitlines()[0].split(",") == list(STAFF_COLUMNS)


def test_the_sample_files_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    main(["--out", str(tmp_path), "--pupils", "12"])
    written = capsys.readouterr().out.split()
    assert len(written) == 14 and all(Path(p).exists() for p in written)
    good = read_export(tmp_path / f"{URN}-export.zip", "csv", school_urn=URN, now=NOW)
    assert validate(good.roster, expected_urn=URN, now=NOW).ok
    assert not read_export(tmp_path / "broken-truncated.zip", "csv", school_urn=URN, now=NOW).ok
