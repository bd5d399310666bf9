"""Property tests: determinism, evidence that points at what it claims, monotonic levels, mark-up."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.classifier.classify import Classification, Level, Roster, classify, combined_text, mark_up
from services.classifier.lexicon import SCANNER, capital_before
from services.classifier.pii import is_valid_nhs_number, is_valid_ni_number, is_valid_upn

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PUPILS = ["Ruby Wright", "Oscar Bennett", "Amara Osei", "Yusuf Demir", "Isla Fraser", "Theo Marsh", "Nia Kaur",
          "Kacper Nowak"]
NEUTRAL = [
    "Please make sure coats are named.", "The library is open after school on Wednesdays.",
    "Lunch menus are on the website.", "The car park will be resurfaced over half term.",
    "Reading books are changed on Mondays and Thursdays.", "Thank you for your support.",
    "PE kit is needed on Tuesdays.", "The office is open from 8:15am.", "Water bottles should be labelled.",
    "Homework is set on Fridays and due the following Wednesday.", "Please walk bikes through the gate.",
    "Tickets for the summer concert go on sale next week.", "We have lots of lost property in the hall.",
    "Trainers can be worn for the sponsored walk.", "Photos will be shared on the class page.",
]
NOTICES = [
    "School will close at 1:30pm on Friday for the end of term.",
    "Parents' evening booking opens on Monday; appointments are ten minutes long.",
    "Flu vaccinations for all pupils take place next Tuesday; please return the consent form.",
    "Ramadan begins next week and the prayer room will be open to all students who are fasting.",
    "Some teachers may take part in national strike action on Thursday.",
    "Our canteen uses fingerprint recognition; please complete the biometric consent form.",
    "A child in Year 2 has a severe nut allergy, so please do not send nuts into school.",
    "Could your child get free school meals? You can apply on the council website.",
]
SENSITIVE = [
    "{name} has been referred to CAMHS after disclosing self-harm.",
    "{name}'s EHCP review with the SENCo is on Monday.",
    "{name} was arrested by the police on Saturday.",
    "{name}'s foster carer will attend the PEP meeting.",
    "{name} has a severe peanut allergy and carries an EpiPen.",
    "{name}'s dinner account is £14.20 overdrawn.",
]
PII_BITS = ["UPN K873251914007", "NHS number 609 139 0996", "NI JT 48 19 27 B", "Mobile: 07700 900 415",
            "email jo.bloggs@gmail.com", "DOB 17/06/2016", "Sort code 20-45-77 account number 53120987",
            "Home address: 14 Larch Close, Bradford BD9 4QT"]
WORDS = NEUTRAL + NOTICES + PII_BITS + [s.format(name=p) for s in SENSITIVE for p in PUPILS[:3]] + [
    "Dear Mrs Bennett,", "Hi Emma,", "Kind regards,\nMr Okafor", "Thanks, Harriet", "summer holidays", "Will you",
    "Ruby's", "RUBY", "her sister Kemi", "Mrs Ruby", "Rowan Class", "by Roald Dahl", "your child", "🙂", "—", "\n"]

fragments = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=25)), max_size=8).map(" ".join)
recipients = st.one_of(st.none(), st.sampled_from(PUPILS))


def run(subject: str, text: str, recipient: str | None) -> Classification:
    return classify(subject, text, recipient_pupil=recipient, roster=PUPILS if recipient else None)


@SETTINGS
@given(st.text(max_size=40), fragments, recipients)
def test_classification_is_deterministic(subject: str, text: str, recipient: str | None) -> None:
    first = run(subject, text, recipient)
    assert run(subject, text, recipient) == first
    if recipient:
        assert classify(subject, text, recipient_pupil=recipient, roster=Roster(PUPILS)) == first


@SETTINGS
@given(st.text(max_size=40), fragments, recipients)
def test_invariants_hold(subject: str, text: str, recipient: str | None) -> None:
    r = run(subject, text, recipient)
    assert (r.level is Level.OFFICIAL_SENSITIVE) == (bool(r.categories) and r.personal)
    assert (r.level is Level.PUBLIC) == (not r.personal)
    assert (r.other_pupil_named is None) == (recipient is None)


@SETTINGS
@given(st.text(max_size=40), fragments, recipients)
def test_every_evidence_span_lies_in_the_text_and_matches_its_claim(subject: str, text: str,
                                                                    recipient: str | None) -> None:
    r = run(subject, text, recipient)
    combined = combined_text(subject, text)
    for ev in r.evidence:
        assert 0 <= ev.start < ev.end <= len(combined), ev
        assert ev.part == ("subject" if ev.end <= len(subject) else "text"), ev
        assert _supports(ev.kind, ev.label, combined, ev.start, ev.end, recipient), (ev, combined[ev.start:ev.end])


def _supports(kind: str, label: str, combined: str, start: int, end: int, recipient: str | None) -> bool:
    piece = combined[start:end]
    if kind == "category":
        if label == "financial" and re.fullmatch(r"[\d -]+", piece):
            return True  # bank details
        found = {key.split(":", 1)[1] for key, _, _ in SCANNER.scan(piece)
                 if not key.startswith("mask:")}
        return label in found or (capital_before(piece, len(piece)) is None and label in found)
    if kind == "pii":
        checks = {
            "upn": is_valid_upn, "nhs_number": is_valid_nhs_number, "ni_number": is_valid_ni_number,
            "email": lambda s: "@" in s, "phone": lambda s: 10 <= sum(c.isdigit() for c in s) <= 12,
            "date_of_birth": lambda s: bool(re.search(r"\d", s)), "address": lambda s: bool(re.match(r"\d|Flat", s)),
            "bank_account": lambda s: bool(re.fullmatch(r"[\dA-Z -]+", s)),
            "person_name": lambda s: s[:1].isalpha() and s.strip() == s,
        }
        return checks[label](piece)
    if kind == "other_pupil":
        hits = Roster(PUPILS).find_in(piece)
        return bool(hits) and all(PUPILS[p] != recipient for h in hits for p in h.pupils)
    return kind == "personal" and bool(piece.strip())


@SETTINGS
@given(fragments, recipients, st.sampled_from(SENSITIVE), st.sampled_from(PUPILS))
def test_appending_a_sensitive_sentence_about_a_named_pupil_never_lowers_the_level(
        text: str, recipient: str | None, template: str, pupil: str) -> None:
    before = run("", text, recipient)
    after = run("", text + "\n" + template.format(name=pupil), recipient)
    assert after.level.rank >= before.level.rank
    assert after.level is Level.OFFICIAL_SENSITIVE


@SETTINGS
@given(st.text(max_size=30), fragments, recipients, st.sampled_from(list(Level)))
def test_mark_up_never_lowers(subject: str, text: str, recipient: str | None, level: Level) -> None:
    r = run(subject, text, recipient)
    marked = mark_up(r, level)
    assert marked.level.rank == max(r.level.rank, level.rank)
    assert marked.categories == r.categories and marked.evidence == r.evidence


@SETTINGS
@given(st.sampled_from(NOTICES), st.lists(st.sampled_from(NEUTRAL), max_size=6), st.sampled_from([" ", "\n", "\n\n"]))
def test_public_notice_with_neutral_sentences_stays_public(notice: str, extra: list[str], sep: str) -> None:
    parts = [notice, *extra]
    r = classify("Notice", sep.join(parts))
    assert r.level is Level.PUBLIC and not r.categories and not r.personal
