"""Decisions of the classifier on the guide's rules and edge cases; invariants; marking up; the CLIs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.classifier.classify import Category, Classification, Level, classify, combined_text, mark_up
from services.classifier.cli import classify_command, classify_eval_command

ROSTER = ["Ruby Wright", "Sam Hale", "Amir Khan", "Lola Price", "Theo Marsh", "Nia Kaur"]


def one_family(text: str, subject: str = "", recipient: str = "Ruby Wright") -> Classification:
    return classify(subject, text, recipient_pupil=recipient, roster=ROSTER)


def cats(result: Classification) -> set[str]:
    return {str(c) for c in result.categories}


def check_invariants(result: Classification) -> None:
    assert (result.level is Level.OFFICIAL_SENSITIVE) == (bool(result.categories) and result.personal)
    assert (result.level is Level.PUBLIC) == (not result.personal)
    order = ["person_name", "date_of_birth", "email", "phone", "address", "upn", "nhs_number", "ni_number",
             "bank_account"]
    assert list(result.pii) == sorted(result.pii, key=order.index)


# --- the guide's edge cases ----------------------------------------------------------------------
def test_guide_edge_cases() -> None:
    r = one_family("Thanks for letting us know Ruby has tonsillitis.")
    assert r.level is Level.OFFICIAL_SENSITIVE and cats(r) == {"health"}
    r = one_family("Ruby hasn't been registered today.")
    assert r.level is Level.OFFICIAL and not r.categories
    r = one_family("Ruby's dinner account is overdrawn.")
    assert r.level is Level.OFFICIAL_SENSITIVE and cats(r) == {"financial"}
    r = classify("", "Dear families, Mrs Okafor starts maternity leave on Friday.")
    assert r.level is Level.OFFICIAL_SENSITIVE and cats(r) == {"health"}
    r = classify("", "Dear families, Mrs Okafor will teach 4B from Monday.")
    assert r.level is Level.PUBLIC and r.pii == ("person_name",) and not r.personal


@pytest.mark.parametrize("text", [
    "Flu vaccinations for all pupils in Year 3 take place on Tuesday. Please return the consent form.",
    "Ramadan starts next week. The prayer room will be open for all students who are fasting.",
    "PCSOs from the local police will talk to Year 5 about road safety on Friday.",
    "Some staff may take part in the NEU strike on Thursday; we will confirm which classes are open.",
    "A child in Hedgehog Class has a severe nut allergy, so please do not send nuts in lunchboxes.",
    "Our canteen uses fingerprint recognition. Please complete the biometric consent form.",
    "Could your child get free school meals? Apply on the council website.",
    "This term our class novel is The Twits by Roald Dahl.",
])
def test_whole_school_notices_stay_public(text: str) -> None:
    r = classify("", text)
    assert r.level is Level.PUBLIC and not r.categories
    check_invariants(r)


def test_named_pupils_in_a_broadcast_are_personal() -> None:
    r = classify("Stars of the week", "Congratulations to Isla Fenwick and Omar Haddad for their writing!")
    assert r.level is Level.OFFICIAL and r.pii == ("person_name",)
    r = classify("", "Message to Otter Class: Oscar in our class has a severe peanut allergy, so no nuts please.")
    assert r.level is Level.OFFICIAL_SENSITIVE and cats(r) == {"health"}


def test_staff_in_role_are_not_personal_but_their_own_circumstances_are() -> None:
    assert classify("", "Welcome to Mr Abiodun, who will be teaching Puffin Class.").level is Level.PUBLIC
    r = classify("", "Mr Haines will be joining the NASUWT strike on Wednesday, so Otter Class is closed.")
    assert r.level is Level.OFFICIAL_SENSITIVE and cats(r) == {"trade_union"}
    r = classify("", "We are sad to say goodbye to Mr Penrose, who is leaving at Easter.")
    assert r.level is Level.OFFICIAL and not r.categories
    signed = classify("Newsletter",
                      "What a term! Thank you for your support.\n\nBest wishes,\nHelen Marsh\nHeadteacher")
    assert signed.level is Level.PUBLIC and signed.pii == ("person_name",)


def test_your_child_in_a_message_to_one_family_is_personal() -> None:
    r = one_family("Your child has been marked absent from period 2 today. Please call the attendance line.")
    assert r.level is Level.OFFICIAL and r.personal and r.pii == ()


def test_hard_negatives_in_messages_to_one_family() -> None:
    assert one_family("Ruby's ParentPay balance is £2.10. Please top up before Friday.").level is Level.OFFICIAL
    assert one_family("Payment received – thank you! £12.50 for Ruby Wright: Year 2 trip.").level is Level.OFFICIAL
    assert one_family("Ruby was found with a vape in the toilets and will spend tomorrow in the Reflection Room."
                      ).level is Level.OFFICIAL
    assert one_family("Ruby has not arrived and we have not heard from you. In line with our safeguarding "
                      "procedures please call the office.").level is Level.OFFICIAL
    assert one_family("Ruby and Sam had a scuffle at lunch; nobody was hurt.").level is Level.OFFICIAL
    r = one_family("Please check the details we hold for Ruby: NHS number 391 851 7462.")
    assert r.level is Level.OFFICIAL and "nhs_number" in r.pii


@pytest.mark.parametrize(("text", "expected"), [
    ("Ruby has been referred to CAMHS for her anxiety.", {"health"}),
    ("Ruby's EHCP annual review is on Tuesday with the SENCo.", {"sen"}),
    ("We have made a referral to the MASH after Ruby's disclosure this morning.", {"safeguarding"}),
    ("We received an Operation Encompass notification about an incident at Ruby's home.", {"safeguarding", "criminal"}),
    ("The local authority has issued a penalty notice for Ruby's unauthorised absence.", {"criminal"}),
    ("Thank you for confirming Ruby's ethnicity as 'Black Caribbean'.", {"ethnicity"}),
    ("Ruby's absence on Friday for Eid has been authorised.", {"religion"}),
    ("Ruby asked whether her girlfriend can come to the prom.", {"sexual_orientation"}),
    ("Ruby's fingerprint has been registered on the canteen system.", {"biometric"}),
    ("The genetic test confirmed Ruby carries the CFTR gene variant.", {"genetic"}),
    ("You are standing as a Green Party candidate in the May elections, so no leaflets at the gate.", {"political"}),
    ("Ruby's PEP meeting with the Virtual School is on Monday; her foster carer is welcome.", {"looked_after"}),
    ("The council has confirmed Ruby is eligible for free school meals.", {"financial"}),
])
def test_each_category(text: str, expected: set[str]) -> None:
    r = one_family(text)
    assert cats(r) >= expected and r.level is Level.OFFICIAL_SENSITIVE
    check_invariants(r)


def test_bank_details_are_always_financial() -> None:
    r = one_family("A refund will be paid to: Sort code 20-45-77, Account number 53120987.")
    assert Category.FINANCIAL in r.categories and "bank_account" in r.pii


def test_evidence_explains_the_decision() -> None:
    subject, text = "Ruby", "Sam Hale's asthma inhaler is in Ruby's bag."
    r = one_family(text, subject=subject)
    combined = combined_text(subject, text)
    kinds = {(e.kind, e.label, combined[e.start:e.end], e.part) for e in r.evidence}
    assert ("other_pupil", "other_pupil", "Sam Hale", "text") in kinds
    assert ("category", "health", "asthma", "text") in kinds
    assert ("pii", "person_name", "Ruby", "subject") in kinds
    assert r.evidence == tuple(sorted(r.evidence, key=lambda e: (e.start, e.end, e.kind, e.label)))


def test_mark_up_raises_never_lowers() -> None:
    public = classify("", "School is closed tomorrow because of snow.")
    raised = mark_up(public, "official-sensitive")
    assert raised.level is Level.OFFICIAL_SENSITIVE and raised.marked_up
    assert raised.categories == public.categories and raised.evidence == public.evidence
    sensitive = one_family("Ruby has tonsillitis.")
    assert mark_up(sensitive, Level.PUBLIC) is sensitive
    assert mark_up(sensitive, "official").level is Level.OFFICIAL_SENSITIVE
    with pytest.raises(ValueError):
        mark_up(public, "secret")


def test_empty_and_odd_input() -> None:
    for subject, text in [("", ""), ("", "   "), ("🙂", "✅✅"), ("", "\n\n\n"), ("Re:", "…")]:
        r = classify(subject, text)
        assert r.level is Level.PUBLIC and r.evidence == ()
    assert one_family("").level is Level.OFFICIAL  # a message to one family identifies them


# --- CLIs ----------------------------------------------------------------------------------------
def test_classify_cli_writes_one_line_per_input_and_reports_bad_lines() -> None:
    good = {"id": "m1", "subject": "", "text": "Thanks for letting us know Ruby has tonsillitis.",
            "recipient_pupil": "Ruby Wright", "roster": ROSTER}
    lines = [json.dumps(good), "{not json", json.dumps({"id": "m3", "text": 7}), "",
             json.dumps({"id": "m4", "text": "Snow day: school closed."}), json.dumps(["a list"])]
    result = CliRunner().invoke(classify_command, input="\n".join(lines) + "\n")
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["m1", None, "m3", "m4", None]
    assert out[0]["level"] == "official-sensitive" and out[0]["categories"] == ["health"]
    assert out[0]["pii"] == ["person_name"] and out[0]["other_pupil_named"] is False and out[0]["personal"]
    assert {"kind", "label", "start", "end", "part"} <= set(out[0]["evidence"][0])
    assert "error" in out[1] and "JSON" in out[1]["error"] and "text" in out[2]["error"]
    assert out[3]["level"] == "public" and out[3]["other_pupil_named"] is None
    assert "object" in out[4]["error"]


def test_classify_cli_exits_zero_when_all_lines_are_good() -> None:
    result = CliRunner().invoke(classify_command, input=json.dumps({"id": 1, "text": "Hello"}) + "\n")
    assert result.exit_code == 0 and json.loads(result.stdout)["level"] == "public"


def test_classify_eval_cli(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "subject": "", "text": "Ruby has tonsillitis.", "level": "official-sensitive",
         "categories": ["health"], "personal": True, "pii": ["person_name"], "other_pupil_named": False,
         "recipient_pupil": "Ruby Wright", "roster": ROSTER},
        {"id": "b", "subject": "", "text": "Snow day: school closed.", "level": "public", "categories": [],
         "personal": False, "pii": [], "other_pupil_named": None, "recipient_pupil": None, "roster": None},
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = CliRunner().invoke(classify_eval_command, [str(corpus), "--passes", "1"])
    assert result.exit_code == 0, result.output
    for needle in ("official-sensitive", "Confusion", "health", "person_name", "other_pupil_named", "messages/s",
                   "p99"):
        assert needle in result.output
