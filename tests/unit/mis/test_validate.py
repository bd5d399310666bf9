"""Roster validation: every domain rule, all-or-nothing, and reports that never quote a value."""
from __future__ import annotations

import ast
import inspect
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pupilpost.mis import validate as validate_module
from pupilpost.mis.roster import ContactRecord, PupilRecord, Roster, StaffRecord
from pupilpost.mis.validate import (
    FieldError, Problem, is_opt_out, normalise_email, normalise_mobile, normalise_year_group, validate,
)

URN = "131652"
NOW = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)


def pupil(ref: str = "A204200118001", **kw: Any) -> dict[str, Any]:
    return {"ref": ref, "upn": ref, "legal_forename": "Amira", "legal_surname": "Wright", "gender": "F",
            "date_of_birth": "2014-07-26", "year_group": "6", **kw}


def contact(pupil_ref: str = "A204200118001", ref: str = "1", priority: int = 1, **kw: Any) -> dict[str, Any]:
    return {"pupil_ref": pupil_ref, "ref": ref, "priority": priority, "surname": "Wright",
            "relationship": "Mother", "parental_responsibility": True, **kw}


def staff(ref: str = "S0001", **kw: Any) -> dict[str, Any]:
    return {"ref": ref, "forename": "Jo", "surname": "Bloggs", "role": "Teacher", **kw}


def roster(pupils: list | None = None, contacts: list | None = None, staff_: list | None = None,
           **kw: Any) -> dict[str, Any]:
    return {"version": 1, "school_urn": URN, "source": "csv", "generated_at": NOW.isoformat(),
            "pupils": [pupil()] if pupils is None else pupils,
            "contacts": [contact()] if contacts is None else contacts,
            "staff": [] if staff_ is None else staff_, **kw}


def problems(data: Any, urn: str = URN) -> list[Problem]:
    checked = validate(data, expected_urn=urn, now=NOW)
    assert (checked.roster is None) == bool(checked.problems)
    return checked.problems


def only(data: Any) -> Problem:
    found = problems(data)
    assert len(found) == 1, found
    return found[0]


# -- a good roster ---------------------------------------------------------------------------------

def test_a_valid_roster_is_normalised_and_counted():
    data = roster(pupils=[pupil(year_group="Y06", source_row=2)],
                  contacts=[contact(email="Jo.Wright@Example.COM", mobile="07700 900123", source_row=2),
                            contact(ref="2", priority=2, mobile="+44 7911 123456", source_row=3)],
                  staff_=[staff(email="J.Bloggs@School.Example.org", mobile="07624 123456")])
    checked = validate(data, expected_urn=URN, now=NOW)
    assert checked.ok and checked.problems == []
    r = checked.roster
    assert r is not None
    assert r.pupils[0].year_group == "6"
    assert r.contacts[0].email == "Jo.Wright@example.com"  # domain lower-cased, local part kept
    assert [c.mobile for c in r.contacts] == ["+447700900123", "+447911123456"]
    assert r.staff[0].email == "J.Bloggs@school.example.org" and r.staff[0].mobile == "+447624123456"
    assert checked.counts == {"pupils": 1, "contacts": 2, "staff": 1, "excluded_opt_out": 0}
    assert dict(checked.counts)["pupils"] == 1


def test_what_an_export_covers_is_as_it_says_or_the_parts_it_has_records_of():
    def covers(data: dict[str, Any]) -> tuple[str, ...]:
        return validate(data, expected_urn=URN, now=NOW).roster.covers
    assert covers(roster()) == ("pupils",)  # an older extractor's roster: the parts with records
    assert covers(roster(pupils=[], contacts=[], staff_=[staff()])) == ("staff",)
    assert covers(roster(staff_=[staff()])) == ("pupils", "staff")
    assert covers(roster(covers=["pupils", "staff"])) == ("pupils", "staff")  # the staff list is whole: empty


@pytest.mark.parametrize(("data", "field"), [
    (roster(staff_=[staff()], covers=["pupils"]), "staff"),
    (roster(covers=["staff"]), "pupils"),
])
def test_records_of_a_part_the_export_does_not_cover_are_refused(data, field):
    found = problems(data)
    assert {p.field for p in found} >= {field} and all(p.record == "roster" for p in found)
    assert only(roster(covers=[])).field == "covers"


def test_bytes_dict_and_roster_inputs_agree():
    data = roster()
    from_dict = validate(data, expected_urn=URN, now=NOW).roster
    from_bytes = validate(json.dumps(data).encode(), expected_urn=URN, now=NOW).roster
    assert from_dict is not None and from_dict == from_bytes
    assert validate(from_dict, expected_urn=URN, now=NOW).roster == from_dict


def test_a_normalised_roster_validates_to_itself():
    first = validate(roster(contacts=[contact(email="a@EXAMPLE.com", mobile="07700900001")]),
                     expected_urn=URN, now=NOW).roster
    assert first is not None
    again = validate(first.model_dump_json().encode(), expected_urn=URN, now=NOW).roster
    assert again == first


@pytest.mark.parametrize("payload", [b"", b"{not json", b"\xff\xfe\x00", b"[1, 2]", b"\"text\"", b"[" * 100000])
def test_payloads_that_are_not_a_roster_object(payload):
    found = problems(payload)
    assert len(found) == 1 and found[0].record == "roster"
    assert found[0].reason in ("the payload is not valid JSON", "the payload is not a roster object")


# -- schema ---------------------------------------------------------------------------------------

def test_schema_errors_name_record_row_and_field():
    found = problems(roster(pupils=[pupil(source_row=7, legal_surname="   ", gender="Q")],
                            contacts=[contact(priority=12, source_row=8)]))
    assert Problem("pupil", 7, "legal_surname", "must not be empty") in found
    assert Problem("pupil", 7, "gender", "must be M, F, U or X") in found
    assert Problem("contact", 8, "priority", "must be a whole number from 1 to 9") in found


def test_without_source_row_the_row_is_the_position_in_its_list():
    found = problems(roster(pupils=[pupil(), pupil("B2", date_of_birth="yesterday")], contacts=[]))
    assert found == [Problem("pupil", 2, "date_of_birth", "must be a date (YYYY-MM-DD)")]


def test_unknown_fields_are_refused_without_echoing_their_names():
    found = problems(roster(pupils=[pupil(**{"Zoë O'Brien SEN": "x"})], contacts=[]))
    assert found == [Problem("pupil", 1, None, "has a field that is not recognised")]


def test_header_fields_are_checked():
    found = problems(roster(school_urn="12345", generated_at="2025-01-15T09:00:00", source="xls"))
    assert Problem("roster", None, "school_urn", "must be a 6-digit URN") in found
    assert Problem("roster", None, "generated_at", "must be a date and time with a time zone") in found
    assert Problem("roster", None, "source", "is not one of the allowed values") in found


def test_lists_must_be_lists():
    assert Problem("roster", None, "contacts", "must be a list") in problems(roster(contacts="Jo"))


def test_too_long_values_give_the_limit_not_the_value():
    p = only(roster(pupils=[pupil(legal_forename="A" * 101)], contacts=[]))
    assert p == Problem("pupil", 1, "legal_forename", "is too long (at most 100 characters)")


# -- the domain rules -------------------------------------------------------------------------------

def test_another_schools_file_is_refused():
    assert problems(roster()) == []
    found = problems(roster(), urn="144210")
    assert found == [Problem("roster", None, "school_urn", "the file belongs to another school")]


@pytest.mark.parametrize("email", ["jo.bloggs@@example.com", "jo.example.com", "jo@localhost", "jo@", "@x.org",
                                   "Jo Bloggs <jo@example.com>"])
def test_invalid_emails_are_refused(email):
    assert only(roster(contacts=[contact(email=email)])) == Problem("contact", 1, "email",
                                                                     "is not a valid email address")


@pytest.mark.parametrize("mobile,reason", [
    ("020 7946 0123", "is a landline number, not a mobile number"),
    ("0161 496 0123", "is a landline number, not a mobile number"),
    ("07000 123456", "is not a mobile number"),          # a personal number
    ("0800 123 4567", "is not a mobile number"),         # freephone
    ("07700 900 12", "is not a valid phone number"),
    ("not a number", "is not a valid phone number"),
    ("+44 1234", "is not a valid phone number"),
])
def test_numbers_that_are_not_mobiles_are_refused(mobile, reason):
    assert only(roster(staff_=[staff(mobile=mobile)])) == Problem("staff", 1, "mobile", reason)


@pytest.mark.parametrize("mobile,e164", [
    ("07700 900123", "+447700900123"), ("+44 (0)7700 900999", "+447700900999"), ("07911123456", "+447911123456"),
    ("+33 6 12 34 56 78", "+33612345678"), ("0044 7911 123456", "+447911123456"),
])
def test_mobiles_are_normalised_to_e164(mobile, e164):
    assert normalise_mobile(mobile) == e164


def test_normalisers_raise_a_reason_without_the_value():
    with pytest.raises(FieldError) as err:
        normalise_email("zoe.obrien@@example.com")
    assert "zoe" not in str(err.value)
    with pytest.raises(FieldError) as err:
        normalise_mobile("020 7946 0123")
    assert "7946" not in str(err.value)


@pytest.mark.parametrize("dob,reason", [
    ("2025-01-16", "is in the future"),
    ("2023-06-01", "gives an age outside 2 to 25 years"),
    ("1999-01-14", "gives an age outside 2 to 25 years"),
])
def test_impossible_birthdays_are_refused(dob, reason):
    assert only(roster(pupils=[pupil(date_of_birth=dob)])) == Problem("pupil", 1, "date_of_birth", reason)


@pytest.mark.parametrize("dob", ["2023-01-15", "1999-01-16"])
def test_ages_2_and_25_are_allowed(dob):
    assert problems(roster(pupils=[pupil(date_of_birth=dob)])) == []


def test_now_defaults_to_when_the_roster_was_generated():
    data = roster(pupils=[pupil(date_of_birth="2020-06-01")], generated_at="2020-05-01T00:00:00+00:00")
    assert validate(data, expected_urn=URN).problems == [
        Problem("pupil", 1, "date_of_birth", "is in the future")]


@pytest.mark.parametrize("value,expected", [
    ("N1", "N1"), ("n2", "N2"), ("R", "R"), ("Reception", "R"), ("YR", "R"), ("1", "1"), ("07", "7"),
    ("Y7", "7"), ("Year 11", "11"), ("14", "14"), ("X", "X"),
    ("0", None), ("15", None), ("N3", None), ("Y", None), ("", None), ("٣", None), ("Year", None),
])
def test_year_groups(value, expected):
    assert normalise_year_group(value) == expected


def test_an_unknown_year_group_is_refused():
    assert only(roster(pupils=[pupil(year_group="15")])) == Problem(
        "pupil", 1, "year_group", "is not an NC year (N1, N2, R, 1-14 or X)")


def test_duplicate_references_are_refused():
    found = problems(roster(pupils=[pupil(source_row=2), pupil(source_row=5)],
                            contacts=[contact(source_row=2), contact(source_row=3, priority=2)],
                            staff_=[staff(source_row=2), staff(source_row=9)]))
    assert Problem("pupil", 5, "ref", "the pupil reference (UPN or admission number) appears twice "
                                      "(first on row 2)") in found
    assert any(p.record == "contact" and p.row == 3 and p.field == "ref" and "first on row 2" in p.reason
               for p in found)
    assert Problem("staff", 9, "ref", "the staff reference appears twice (first on row 2)") in found


def test_a_contact_without_its_pupil_is_refused():
    assert only(roster(contacts=[contact(pupil_ref="B999")])) == Problem(
        "contact", 1, "pupil_ref", "matches no pupil in the file")


def test_contacts_of_a_pupil_that_failed_the_schema_are_not_called_orphans():
    found = problems(roster(pupils=[pupil(gender="?")]))
    assert [p.field for p in found] == ["gender"]


def test_two_contacts_with_priority_1_are_refused():
    found = problems(roster(contacts=[contact(source_row=2), contact(ref="2", source_row=3)]))
    assert found == [Problem("contact", 3, "priority", "two contacts with priority 1")]


def test_priority_1_may_repeat_across_pupils():
    data = roster(pupils=[pupil("A1"), pupil("A2")], contacts=[contact("A1"), contact("A2")])
    assert problems(data) == []


def test_opted_out_contacts_are_dropped_and_counted_even_if_sent():
    data = roster(contacts=[contact(), contact(ref="2", priority=9, email="not-an-email", mobile="020 7946 0000"),
                            contact(ref="3", priority="9", surname="")], excluded_opt_out=4)
    checked = validate(data, expected_urn=URN, now=NOW)
    assert checked.problems == []
    assert checked.roster is not None and [c.ref for c in checked.roster.contacts] == ["1"]
    assert checked.roster.excluded_opt_out == 6
    assert checked.counts == {"pupils": 1, "contacts": 1, "staff": 0, "excluded_opt_out": 6}


@pytest.mark.parametrize("priority", [9, 9.0, "9", " 09 ", "9.0", "٩"])
def test_every_spelling_of_priority_9_is_an_opt_out(priority):
    assert is_opt_out(priority)


@pytest.mark.parametrize("priority", [1, True, "19", "", None, "nine", "nan", 90])
def test_other_priorities_are_not_opt_outs(priority):
    assert not is_opt_out(priority)


def test_an_empty_roster_is_refused():
    assert problems(roster(pupils=[], contacts=[])) == [Problem("roster", None, None, "the file has no records")]


def test_staff_alone_is_a_roster():
    assert problems(roster(pupils=[], contacts=[], staff_=[staff()])) == []


def test_one_bad_record_among_many_imports_nothing():
    pupils = [pupil(f"A{i}") for i in range(200)]
    contacts = [contact(f"A{i}", email=f"parent{i}@example.com") for i in range(200)]
    contacts[137] = contact("A137", email="parent137@@example.com")
    checked = validate(roster(pupils, contacts), expected_urn=URN, now=NOW)
    assert checked.roster is None and checked.problems == [
        Problem("contact", 138, "email", "is not a valid email address")]
    assert checked.counts["contacts"] == 200


def test_problems_print_as_one_line():
    assert str(Problem("contact", 14, "email", "is not a valid email address")) == \
        "contact row 14: email: is not a valid email address"
    assert str(Problem("roster", None, None, "the file has no records")) == "roster: the file has no records"


# -- properties -------------------------------------------------------------------------------------

junk = st.text(min_size=1, max_size=40)
maybe_valid = {
    "email": st.one_of(junk, st.just("jo@example.com")),
    "mobile": st.one_of(junk, st.just("07700 900123"), st.just("020 7946 0123")),
    "date_of_birth": st.one_of(junk, st.just("2014-07-26"), st.just("2030-01-01")),
    "year_group": st.one_of(junk, st.just("Year 7")),
    "priority": st.one_of(junk, st.integers(-3, 12)),
}
PUPIL_TEXT = ("ref", "upn", "legal_forename", "legal_surname", "preferred_forename", "gender", "date_of_birth",
              "year_group", "reg_group")
CONTACT_TEXT = ("ref", "title", "forename", "surname", "relationship", "email", "mobile", "priority")
STAFF_TEXT = ("ref", "forename", "surname", "email", "mobile", "role")


@st.composite
def hostile_rosters(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A roster with random values in random fields (and a random unknown key), and the values used."""
    used: list[str] = []

    def fill(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
        for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
            record[name] = draw(maybe_valid.get(name, junk))
            used.append(record[name]) if isinstance(record[name], str) else None
        if draw(st.booleans()):
            key = draw(junk)
            record[key] = draw(junk)
            used.extend([key, record[key]])
        return record

    data = roster(pupils=[fill(pupil(), PUPIL_TEXT)], contacts=[fill(contact(), CONTACT_TEXT)],
                  staff_=[fill(staff(), STAFF_TEXT)])
    if draw(st.booleans()):
        data["school_urn"] = draw(junk)
        used.append(data["school_urn"])
    return data, used


def _vocabulary() -> list[str]:
    """Every text a problem can be made of: validate.py's string constants and the schema's field names."""
    tree = ast.parse(inspect.getsource(validate_module))
    constants = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    fields = [name for model in (Roster, *(PupilRecord, ContactRecord, StaffRecord)) for name in model.model_fields]
    return constants + fields


VOCABULARY = _vocabulary()


def leaked(value: str, text: str) -> bool:
    """True if `value` is in `text` and could only have come from the input."""
    needle = value.strip()
    if len(needle) < 4 or needle.isdigit() or needle not in text:
        return False
    return not any(needle in word for word in VOCABULARY)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_rosters())
def test_no_problem_ever_contains_a_value(case):
    data, used = case
    checked = validate(data, expected_urn=URN, now=NOW)
    for p in checked.problems:
        for value in used:
            assert not leaked(value, p.reason) and not leaked(value, p.field or ""), (value, p)
        assert json.dumps(asdict(p))  # plain data: record, row, field, reason


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=9, unique=True))
def test_priority_9_never_reaches_the_roster(priorities):
    contacts = [contact(ref=str(p), priority=p) for p in priorities]
    checked = validate(roster(contacts=contacts), expected_urn=URN, now=NOW)
    assert checked.roster is not None
    assert all(c.priority != 9 for c in checked.roster.contacts)
    assert checked.counts["excluded_opt_out"] == priorities.count(9)
    assert len(checked.roster.contacts) == len(priorities) - priorities.count(9)


def test_roster_model_is_unchanged_by_validation_of_its_dump():
    r = Roster.model_validate(roster())
    assert validate(r, expected_urn=URN, now=NOW).roster == r.model_copy(update={"excluded_opt_out": 0,
                                                                                  "covers": ("pupils",)})
    assert r.pupils[0].date_of_birth == date(2014, 7, 26)
