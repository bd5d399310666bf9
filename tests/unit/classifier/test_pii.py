"""Structured PII detectors: check digits, formats, and individual vs school contact details."""
from __future__ import annotations

import pytest

from services.classifier import pii
from services.classifier.pii import (
    find_addresses,
    find_bank_details,
    find_dates_of_birth,
    find_emails,
    find_nhs_numbers,
    find_ni_numbers,
    find_phones,
    find_structured_pii,
    find_upns,
    is_valid_nhs_number,
    is_valid_ni_number,
    is_valid_upn,
    upn_check_letter,
)


def kinds(text: str, personalised: bool = True) -> list[str]:
    return sorted({k for k, _, _ in find_structured_pii(text, personalised=personalised)})


# --- UPN: DfE check letter over digits 2..13 (weights 2..13, mod 23, letters without I O S) ---------
@pytest.mark.parametrize("upn", ["Y567317716276", "B481346219366", "K873251914007"])
def test_valid_upns(upn: str) -> None:
    assert is_valid_upn(upn)
    assert find_upns(f"UPN: {upn}.") == [("upn", 5, 18)]


@pytest.mark.parametrize("upn", ["A567317716276", "Z481346219366", "K87325191400", "K8732519140077", "1873251914007"])
def test_invalid_upns(upn: str) -> None:
    assert not is_valid_upn(upn)
    assert find_upns(f"UPN: {upn}") == []


def test_upn_check_letter_skips_ambiguous_letters() -> None:
    letters = {upn_check_letter(f"{n:012d}") for n in range(0, 5000, 7)}
    assert letters.isdisjoint({"I", "O", "S"})


def test_upn_inside_a_longer_code_is_not_a_upn() -> None:
    assert find_upns("ref XY567317716276") == []


# --- NHS number: mod 11 ------------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["3918517462", "632 058 2081", "609-139-0996", "4010232137"])
def test_valid_nhs_numbers(number: str) -> None:
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize("number", ["3918517463", "6320582080", "123456789", "40102321370", "0000000001"])
def test_invalid_nhs_numbers(number: str) -> None:
    assert not is_valid_nhs_number(number)


def test_nhs_number_found_with_context_or_spacing_only() -> None:
    assert kinds("NHS number: 3918517462") == ["nhs_number"]
    assert kinds("Her number is 632 058 2081 on the form") == ["nhs_number"]
    assert find_nhs_numbers("Order ref 3918517462") == []          # bare 10 digits, no NHS context
    assert find_nhs_numbers("NHS number: 3918517463") == []        # bad check digit


# --- NI number ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["SL636347C", "OC780838C", "JT 48 19 27 B", "AB123456D"])
def test_valid_ni_numbers(number: str) -> None:
    assert is_valid_ni_number(number)
    assert [k for k, _, _ in find_ni_numbers(f"NI: {number}")] == ["ni_number"]


@pytest.mark.parametrize("number", ["GB123456A", "BG123456A", "DA123456A", "AO123456A", "AB123456E", "AB12345C"])
def test_invalid_ni_numbers(number: str) -> None:
    assert not is_valid_ni_number(number)
    assert find_ni_numbers(f"NI: {number}") == []


# --- bank details ------------------------------------------------------------------------------------
def test_sort_code_with_account_number_is_bank_details() -> None:
    text = "Name: Gary Wright\nSort code: 72-50-38\nAccount number: 37940474"
    spans = find_bank_details(text)
    assert {text[s:e] for _, s, e in spans} == {"72-50-38", "37940474"}


def test_sort_code_or_account_alone_is_not_bank_details() -> None:
    assert find_bank_details("Our sort code is 72-50-38.") == []
    assert find_bank_details("Account number: 37940474") == []


def test_iban_is_bank_details() -> None:
    assert [k for k, _, _ in find_bank_details("IBAN GB33 BUKB 2020 1555 5555 55")] == ["bank_account"]


# --- email -------------------------------------------------------------------------------------------
def test_individual_emails_are_pii_role_mailboxes_are_not() -> None:
    assert [k for k, _, _ in find_emails("email me at b.coyle@staidans.sch.uk")] == ["email"]
    assert [k for k, _, _ in find_emails("Mum: pkaminski24@live.co.uk")] == ["email"]
    for role in ("office@westbrook.sch.uk", "attendance@castlegate.sch.uk", "year6@school.org", "senco@x.org.uk",
                 "no-reply@parentpay.com"):
        assert find_emails(f"Contact {role} please") == [], role


# --- phone -------------------------------------------------------------------------------------------
def test_parent_mobiles_are_pii() -> None:
    assert kinds("Mobile: 07700 900876") == ["phone"]
    assert kinds("updated the priority contact number for Priya to 07700900310 as requested") == ["phone"]
    assert kinds("Dad's number is +44 7700 900123") == ["phone"]


def test_school_switchboards_are_not_pii() -> None:
    assert find_phones("please contact the attendance line on 0161 496 0772") == []
    assert find_phones("call the school office on 01632 960 118 for help") == []
    assert find_phones("Westbrook Primary, tel 01632 960 200") == []


# --- date of birth -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["Date of birth: 29.11.2020", "DOB 24/08/2018", "date of birth 13/05/2018",
                                  "born on 3 May 2018", "D.O.B.: 08/04/2009"])
def test_dates_of_birth(text: str) -> None:
    assert [k for k, _, _ in find_dates_of_birth(text)] == ["date_of_birth"]


def test_other_dates_are_not_dates_of_birth() -> None:
    assert find_dates_of_birth("The trip is on 13/05/2026.") == []
    assert find_dates_of_birth("Happy birthday for Tuesday!") == []


# --- address -----------------------------------------------------------------------------------------
def test_home_addresses_are_pii() -> None:
    assert kinds("Home address: 49 Oakwood Terrace, Nottingham NG7 6XT") == ["address"]
    assert kinds("The minibus will collect Khoa from 28 Station Road, Nottingham NG7 6XN", True) == ["address"]
    assert kinds("Our records show your address as 99 Victoria Street, Nottingham NG7 8SZ") == ["address"]


def test_school_and_venue_addresses_are_not_pii() -> None:
    assert find_addresses("Westbrook Primary, 1 School Lane, Bradford BD9 4AA", personalised=True) == []
    assert find_addresses("The fair is held at 12 High Street, Leeds LS1 4AB", personalised=False) == []


def test_detectors_return_spans_inside_the_text() -> None:
    text = ("Sort code 20-45-77 account number 53120987; UPN K873251914007; NHS number 609 139 0996; "
            "NI JT 48 19 27 B; Mobile: 07700 900 415; email jo.bloggs@gmail.com; DOB 17/06/2016")
    spans = find_structured_pii(text, personalised=True)
    assert {k for k, _, _ in spans} == {"bank_account", "upn", "nhs_number", "ni_number", "phone", "email",
                                        "date_of_birth"}
    assert all(0 <= s < e <= len(text) for _, s, e in spans)
    assert pii.find_structured_pii("", personalised=True) == []
