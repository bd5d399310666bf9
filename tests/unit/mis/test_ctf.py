"""The CTF parser: only the needed elements are read, hostile XML is refused, and round-trip properties."""
from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pupilpost.mis.ctf import read_ctf
from pupilpost.mis.parse import ParseResult, read_export
from pupilpost.mis.roster import ContactRecord, PupilRecord, Roster
from pupilpost.mis.validate import Problem, validate
from tests.fixtures.mis_fixtures import FIXTURE_NOW, NOISE, OTHER_URN, SCHOOLS, make_ctf, make_export

URN = SCHOOLS[0].urn
NOW = FIXTURE_NOW
NOISE_TAGS = ("Ethnicity", "EthnicitySource", "SENprovision", "SENtype", "FSMstartDate", "MedicalFlag",
              "SessionsPossible", "Language", "PAON", "Street", "PostCode", "MiddleNames")


def parse(data: bytes, school_urn: str | None = URN, **kw: Any) -> ParseResult:
    return read_ctf(data, school_urn=school_urn, now=NOW, **kw)


def roster_of(data: bytes, school_urn: str | None = URN) -> Roster:
    result = parse(data, school_urn)
    assert result.problems == [] and isinstance(result.roster, Roster), result.problems
    return result.roster


def refusal(data: bytes, **kw: Any) -> Problem:
    result = parse(data, **kw)
    assert result.roster is None and len(result.problems) == 1, result
    return result.problems[0]


# -- realistic files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("school", SCHOOLS, ids=lambda s: s.urn)
def test_a_schools_ctf_imports_whole(school):
    export = make_export(school.urn, pupils=120, staff=0)
    parsed = read_ctf(make_ctf(school.urn, pupils=120), school_urn=None, now=NOW)
    assert parsed.roster.school_urn == school.urn  # from Header/SourceSchool/URN
    assert parsed.roster.covers == ("pupils",)  # a CTF has no staff: an import leaves them as they are
    result = validate(parsed.roster, expected_urn=school.urn, now=NOW)
    assert result.problems == []
    assert result.counts == {"pupils": 120, "contacts": export.importable_contacts, "staff": 0,
                             "excluded_opt_out": export.opted_out}


def test_pupils_and_contacts_are_read_field_by_field():
    export = make_export(URN, pupils=40, staff=0)
    r = roster_of(make_ctf(URN, pupils=40))
    got = {p.ref: p for p in r.pupils}
    for position, p in enumerate(export.pupils, 1):
        mine = got[p.upn]
        assert (mine.legal_forename, mine.legal_surname, mine.preferred_forename, mine.gender, mine.date_of_birth,
                mine.year_group, mine.reg_group, mine.admission_number, mine.source_row) == (
            p.legal_forename, p.legal_surname, p.preferred_forename, p.gender, p.dob, p.year_group, None, None,
            position)
    want = {(p.upn, str(c.priority), c.priority, c.title, c.forename, c.surname, c.relationship, c.responsibility,
             c.email, c.mobile) for p, c in export.contact_rows() if c.priority != 9}
    assert {(c.pupil_ref, c.ref, c.priority, c.title, c.forename, c.surname, c.relationship,
             c.parental_responsibility, c.email, c.mobile) for c in r.contacts} == want


def test_fields_pupilpost_does_not_need_never_reach_the_roster():
    data = make_ctf(URN, pupils=60)
    for tag in NOISE_TAGS:
        assert f"<{tag}>{NOISE}".encode() in data
    export = make_export(URN, pupils=60, staff=0)
    parsed = roster_of(data)
    checked = validate(parsed, expected_urn=URN, now=NOW).roster
    for dumped in (parsed.model_dump_json(), checked.model_dump_json()):
        assert NOISE not in dumped
        for _, c in export.contact_rows():  # home landlines are in the file, never in the roster
            assert c.home_phone not in dumped and c.home_phone.replace(" ", "") not in dumped


def test_reg_group_is_read_when_present():
    assert all(p.reg_group for p in roster_of(make_ctf(URN, pupils=10, reg_group=True)).pupils)
    assert all(p.reg_group is None for p in roster_of(make_ctf(URN, pupils=10)).pupils)


def test_names_with_apostrophes_hyphens_and_diacritics_survive():
    r = roster_of(make_ctf(URN, pupils=10, unusual_names=True))
    assert {"O'Brien", "Nguyễn", "Smith-Jones"} <= {p.legal_surname for p in r.pupils}
    assert "Zoë" in {p.legal_forename for p in r.pupils}


def test_namespaced_files_are_read():
    data = make_ctf(URN, pupils=5).replace(b"<CTfile>", b'<CTfile xmlns="urn:example:ctf">')
    assert len(roster_of(data).pupils) == 5


def test_only_mobile_telephone_types_are_the_mobile():
    xml = _ctf(_pupil(contacts=[_contact(phones=[("H", "0161 496 0001"), ("W", "020 7946 0002"),
                                                 ("m", "07700 900003")]),
                                _contact(order="2", phones=[("Mobile", "07700 900004"), ("M", "07700 900005")]),
                                _contact(order="3", phones=[("H", "0161 496 0006")])]))
    assert [c.mobile for c in roster_of(xml).contacts] == ["07700 900003", "07700 900004", None]


def test_email_in_the_emails_list_form():
    contact = _contact(email=None)
    ET.SubElement(ET.SubElement(ET.SubElement(contact, "Emails"), "Email"), "EmailAddress").text = "jo@example.org"
    assert roster_of(_ctf(_pupil(contacts=[contact]))).contacts[0].email == "jo@example.org"


@pytest.mark.parametrize("value,expected", [("true", True), ("false", False), ("1", True), ("0", False),
                                            ("Y", True), ("N", False)])
def test_responsibility_forms(value, expected):
    xml = _ctf(_pupil(contacts=[_contact(responsibility=value)]))
    assert roster_of(xml).contacts[0].parental_responsibility is expected


def test_priority_9_contacts_are_left_out_and_counted():
    xml = _ctf(_pupil(contacts=[_contact(), _contact(order="9", email="bad@@x"), _contact(order="2")]))
    r = roster_of(xml)
    assert [c.ref for c in r.contacts] == ["1", "2"] and r.excluded_opt_out == 1


def test_paths_and_read_export(tmp_path: Path):
    path = tmp_path / "export.xml"
    path.write_bytes(make_ctf(URN, pupils=8))
    assert len(read_export(path, "ctf", school_urn=None, now=NOW).roster.pupils) == 8
    assert read_ctf(path, school_urn=URN, now=NOW, max_bytes=100).problems[0].reason == \
        "the file is larger than 100 bytes"


# -- refusals -----------------------------------------------------------------------------------------

DTD_REASON = "the file declares a DTD, entities or external references (<!DOCTYPE>, <!ENTITY>), which are refused"


@pytest.mark.parametrize("edge", ["billion_laughs", "external_entity"])
def test_dtds_and_entities_are_refused(edge):
    started = time.perf_counter()
    assert refusal(make_ctf(URN, pupils=5, **{edge: True})) == Problem("roster", None, None, DTD_REASON)
    assert time.perf_counter() - started < 1


def test_a_bare_doctype_is_refused():
    data = b'<?xml version="1.0"?>\n<!DOCTYPE CTfile SYSTEM "CTF.dtd">\n' + make_ctf(URN, 2).split(b"?>", 1)[1]
    assert refusal(data).reason == DTD_REASON


def test_the_size_limit_is_checked_before_parsing():
    junk = b"<not xml" * 100
    assert refusal(junk, max_bytes=500).reason == "the file is larger than 500 bytes"
    assert refusal(junk).reason.startswith("the file is not well-formed XML")


@pytest.mark.parametrize("data,reason", [
    (b"", "the file is empty"),
    (b"<CTfile><Header>", "the file is not well-formed XML (line 1)"),
    (b"\xff\xfe<\x00", "the file is not well-formed XML (line 1)"),
    (b"<Pupils><Pupil/></Pupils>", "the file is not a Common Transfer File (its root element is not CTfile)"),
    (b"<?xml version='1.0' encoding='U-F-8'?><CTfile/>",
     "the file declares a character encoding that is not supported"),
])
def test_files_that_are_not_ctfs(data, reason):
    assert refusal(data).reason == reason


def test_a_truncated_file():
    data = make_ctf(URN, pupils=10)
    assert refusal(data[: len(data) // 2]).reason.startswith("the file is not well-formed XML (line ")


def test_another_schools_file():
    data = make_ctf(URN, pupils=5, other_urn=True)
    result = parse(data, school_urn=URN)
    assert Problem("roster", None, "school_urn", "the file belongs to another school") in result.problems
    unchecked = parse(data, school_urn=None)
    assert unchecked.ok and unchecked.roster.school_urn == OTHER_URN
    assert validate(unchecked.roster, expected_urn=URN, now=NOW).problems == [
        Problem("roster", None, "school_urn", "the file belongs to another school")]


def test_the_urn_comes_from_the_caller_when_the_header_has_none():
    xml = _ctf(_pupil(), urn=None)
    assert roster_of(xml, URN).school_urn == URN
    assert refusal(xml, school_urn=None) == Problem("roster", None, "school_urn",
                                                    "the file has no Header/SourceSchool/URN")


def test_a_pupil_without_upn():
    result = parse(_ctf(_pupil(), _pupil(upn=None)))
    assert result.problems == [Problem("pupil", 2, "upn", "the pupil has no UPN")]


@pytest.mark.parametrize("edge,field,reason", [
    ("landline_mobile", "mobile", "is a landline number, not a mobile number"),
    ("invalid_email", "email", "is not a valid email address"),
    ("two_priority_one", "priority", "two contacts with priority 1"),
])
def test_bad_values_are_reported_and_nothing_imports(edge, field, reason):
    result = validate(roster_of(make_ctf(URN, pupils=30, **{edge: True})), expected_urn=URN, now=NOW)
    assert result.roster is None
    assert {(p.record, p.field, p.reason) for p in result.problems} >= {("contact", field, reason)}


def test_an_empty_ctf_has_no_records():
    result = validate(roster_of(make_ctf(URN, pupils=5, empty=True)), expected_urn=URN, now=NOW)
    assert result.problems == [Problem("roster", None, None, "the file has no records")]


# -- properties ----------------------------------------------------------------------------------------

names = st.text(st.characters(categories=("L", "M", "N", "P", "Zs")), min_size=1, max_size=20).map(
    str.strip).filter(bool)
optional = st.one_of(st.none(), names)
upn_refs = st.tuples(st.sampled_from("ABCDEFGHJKLMNPQRTUVWXYZ"), st.integers(0, 10**12 - 1)).map(
    lambda t: f"{t[0]}{t[1]:012d}")
noise = st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=20).map(lambda s: f"NZQ-{s}")


@st.composite
def pupils_with_contacts(draw: st.DrawFn) -> tuple[list[PupilRecord], list[ContactRecord], ET.Element]:
    """Records, and the CTF that holds them with random values in fields that must not be read."""
    upns = draw(st.lists(upn_refs, min_size=1, max_size=4, unique=True))
    pupils, contacts, elements = [], [], []
    for position, upn in enumerate(upns, 1):
        pupil = PupilRecord(
            source_row=position, ref=upn, upn=upn, legal_forename=draw(names), legal_surname=draw(names),
            preferred_forename=draw(optional), preferred_surname=draw(optional), gender=draw(st.sampled_from("MFUX")),
            date_of_birth=draw(st.dates(date(1990, 1, 1), date(2024, 1, 1))),
            year_group=draw(st.sampled_from(["N1", "N2", "R", "3", "11", "14", "X"])), reg_group=draw(optional))
        theirs = [ContactRecord(
            source_row=position, pupil_ref=upn, ref=str(order), priority=order, title=draw(optional),
            forename=draw(optional), surname=draw(names), relationship=draw(names),
            parental_responsibility=draw(st.booleans()), email=draw(optional), mobile=draw(optional))
            for order in draw(st.lists(st.integers(1, 9), max_size=3, unique=True))]
        pupils.append(pupil)
        contacts += theirs
        elements.append(_pupil_from(pupil, theirs, draw))
    return pupils, contacts, _ctf_element(*elements)


def _pupil_from(p: PupilRecord, contacts: list[ContactRecord], draw: st.DrawFn) -> ET.Element:
    elem = _pupil(upn=p.upn, surname=p.legal_surname, forename=p.legal_forename, dob=p.date_of_birth.isoformat(),
                  gender=p.gender, year=p.year_group, contacts=[_contact_from(c, draw) for c in contacts])
    basic = _child(elem, "BasicDetails")
    for tag, value in (("PreferredSurname", p.preferred_surname), ("PreferredForename", p.preferred_forename),
                       ("RegGroup", p.reg_group)):
        if value is not None:
            ET.SubElement(basic, tag).text = value
    for tag in ("Ethnicity", "MedicalFlag", "Language"):
        ET.SubElement(basic, tag).text = draw(noise)
    for path in (("SENhistory", "SEN", "SENprovision"), ("FSMhistory", "FSMinstance", "FSMstartDate"),
                 ("Attendance", "YearData", "SessionsPossible"), ("Phones", "Phone", "PhoneNo"), ("Email",)):
        _deep(elem, path).text = draw(noise)
    return elem


def _contact_from(c: ContactRecord, draw: st.DrawFn) -> ET.Element:
    phones = [("H", draw(noise))] + ([("M", c.mobile)] if c.mobile is not None else [])
    elem = _contact(order=str(c.priority), title=c.title, surname=c.surname, forename=c.forename,
                    relationship=c.relationship, responsibility="true" if c.parental_responsibility else "false",
                    email=c.email, phones=phones)
    _deep(elem, ("Address", "BS7666Address", "Street")).text = draw(noise)
    return elem


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pupils_with_contacts())
def test_round_trip_and_ignored_fields_never_leak(case):
    pupils, contacts, root = case
    result = parse(ET.tostring(root, encoding="utf-8", xml_declaration=True))
    assert result.problems == [] and isinstance(result.roster, Roster)
    assert list(result.roster.pupils) == pupils
    assert list(result.roster.contacts) == [c for c in contacts if c.priority != 9]
    assert result.roster.excluded_opt_out == sum(c.priority == 9 for c in contacts)
    assert "NZQ-" not in result.roster.model_dump_json()


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    def mutate(edits: list[tuple[int, int]]) -> bytes:
        data = bytearray(base)
        for at, byte in edits:
            data[at % len(data)] = byte
        return bytes(data)
    return st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8).map(mutate)


SMALL_CTF = make_ctf(URN, pupils=2)
xml_fragments = st.lists(st.sampled_from(["<CTfile>", "</CTfile>", "<Header>", "<URN>", "131652", "</URN>",
                                          "<CTFpupilData>", "<Pupil>", "</Pupil>", "<UPN>", "<Contacts>",
                                          "<Contact>", "<Order>", "9", "1", "&amp;", "&lol;", "<!DOCTYPE x>",
                                          "<?xml version='1.0' encoding='latin-1'?>", "]]>", "<![CDATA[", "x"]),
                         max_size=30).map(lambda parts: "".join(parts).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=500), _mutations(SMALL_CTF), xml_fragments))
def test_arbitrary_bytes_never_crash_the_parser(data):
    result = parse(data)
    assert isinstance(result, ParseResult)
    assert result.ok or result.problems
    json.dumps([p.__dict__ for p in result.problems])


# -- helpers -------------------------------------------------------------------------------------------

def _ctf(*pupils: ET.Element, urn: str | None = URN) -> bytes:
    return ET.tostring(_ctf_element(*pupils, urn=urn), encoding="utf-8", xml_declaration=True)


def _ctf_element(*pupils: ET.Element, urn: str | None = URN) -> ET.Element:
    root = ET.Element("CTfile")
    source = _deep(root, ("Header", "SourceSchool"))
    ET.SubElement(source, "LEA").text = "204"
    if urn is not None:
        ET.SubElement(source, "URN").text = urn
    ET.SubElement(root, "CTFpupilData").extend(pupils)
    return root


def _pupil(upn: str | None = "A204200118001", surname: str = "Wright", forename: str = "Amira",
           dob: str = "2014-07-26", gender: str = "F", year: str = "6",
           contacts: list[ET.Element] | None = None) -> ET.Element:
    elem = ET.Element("Pupil")
    for tag, value in (("UPN", upn), ("Surname", surname), ("Forename", forename), ("DOB", dob), ("Gender", gender)):
        if value is not None:
            ET.SubElement(elem, tag).text = value
    ET.SubElement(ET.SubElement(elem, "BasicDetails"), "NCyearActual").text = year
    ET.SubElement(elem, "Contacts").extend([_contact()] if contacts is None else contacts)
    return elem


def _contact(order: str = "1", title: str | None = "Ms", surname: str = "Wright", forename: str | None = "Jo",
             relationship: str = "Mother", responsibility: str = "true", email: str | None = "jo@example.org",
             phones: list[tuple[str, str]] | None = None) -> ET.Element:
    elem = ET.Element("Contact")
    for tag, value in (("Order", order), ("Title", title), ("Surname", surname), ("Forename", forename),
                       ("Relationship", relationship), ("Responsibility", responsibility)):
        if value is not None:
            ET.SubElement(elem, tag).text = value
    holder = ET.SubElement(elem, "Phones")
    for kind, number in phones if phones is not None else [("M", "07700 900001")]:
        phone = ET.SubElement(holder, "Phone")
        ET.SubElement(phone, "TelephoneType").text = kind
        ET.SubElement(phone, "PhoneNo").text = number
    if email is not None:
        ET.SubElement(elem, "Email").text = email
    return elem


def _child(elem: ET.Element, tag: str) -> ET.Element:
    found = elem.find(tag)
    return found if found is not None else ET.SubElement(elem, tag)


def _deep(elem: ET.Element, path: tuple[str, ...]) -> ET.Element:
    for tag in path:
        elem = _child(elem, tag)
    return elem
