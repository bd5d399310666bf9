"""Message sensitivity classifier: the public entry point.

`classify` is a pure function of the message (and, for a message to one family, the
recipient pupil and the class or school roster). It returns the level, the sensitive
categories, the PII kinds, whether another family's child is named, and evidence spans
into `subject + "\\n" + text` so a reviewer can see why.

    >>> r = classify("", "Thanks for letting us know Ruby has tonsillitis.",
    ...              recipient_pupil="Ruby Wright", roster=["Ruby Wright", "Sam Hale"])
    >>> (r.level, sorted(r.categories), r.pii, r.other_pupil_named)
    (<Level.OFFICIAL_SENSITIVE: 'official-sensitive'>, ['health'], ('person_name',), False)
"""
from __future__ import annotations

from collections.abc import Sequence

from services.classifier.categories import CategoryHit, find_categories
from services.classifier.doc import Doc
from services.classifier.model import (
    PII_ORDER,
    Category,
    Classification,
    Evidence,
    Level,
    decide_level,
    mark_up,
)
from services.classifier.people import Mention, find_people
from services.classifier.pii import find_structured_pii
from services.classifier.roster import Roster, RosterHit, build_roster

__all__ = [
    "Category", "Classification", "Evidence", "Level", "Roster", "RosterHit", "classify", "combined_text",
    "mark_up",
]


_CATEGORY = {str(c): c for c in Category}


def combined_text(subject: str, text: str) -> str:
    """The string evidence offsets refer to."""
    return (subject or "") + "\n" + (text or "")


def classify(subject: str, text: str, *, recipient_pupil: str | None = None,
             roster: Sequence[str] | Roster | None = None) -> Classification:
    """Classify one message; pass `recipient_pupil` and `roster` for a message to one family."""
    doc = Doc.build(subject or "", text or "")
    personalised = bool(recipient_pupil)
    matcher = build_roster(roster, recipient_pupil) if roster is not None else (
        build_roster([recipient_pupil]) if personalised else None)
    recipient_idx = matcher.index_of(recipient_pupil) if matcher is not None and recipient_pupil else None
    mentions = find_people(doc, matcher, recipient_idx, personalised)
    structured = find_structured_pii(doc.combined, personalised=personalised)
    personal = personalised or any(m.personal for m in mentions)
    bank = [(s, e) for kind, s, e in structured if kind == "bank_account"]
    cat_hits = find_categories(doc, mentions, personalised, bank) if personal else []
    categories = frozenset(_CATEGORY[h.category] for h in cat_hits)
    names = [m for m in mentions if m.is_name]
    kinds = {kind for kind, _, _ in structured} | ({"person_name"} if names else set())
    other = None
    if personalised and roster is not None:
        other = any(m.other_pupil for m in mentions)
    evidence = _evidence(doc, mentions, structured, cat_hits, personalised)
    return Classification(
        level=decide_level(categories, personal),
        categories=categories,
        personal=personal,
        pii=tuple(k for k in PII_ORDER if k in kinds),
        other_pupil_named=other,
        evidence=evidence,
    )


def _evidence(doc: Doc, mentions: Sequence[Mention], structured: Sequence[tuple[str, int, int]],
              cat_hits: Sequence[CategoryHit], personalised: bool) -> tuple[Evidence, ...]:
    """Evidence spans, de-duplicated, in text order."""
    text_start = doc.text_start
    rows: set[tuple[str, str, int, int]] = set()
    for m in mentions:
        if m.is_name:
            rows.add(("pii", "person_name", m.start, m.end))
        if m.personal:
            rows.add(("personal", _personal_label(m), m.start, m.end))
        if m.other_pupil:
            rows.add(("other_pupil", "other_pupil", m.start, m.end))
    rows.update(("pii", kind, s, e) for kind, s, e in structured)
    rows.update(("category", h.category, h.start, h.end) for h in cat_hits)
    ordered = sorted(rows, key=_SPAN_ORDER)
    new = tuple.__new__
    return tuple(new(Evidence, (kind, label, s, e, "subject" if s < text_start else "text"))
                 for kind, label, s, e in ordered)


def _SPAN_ORDER(row: tuple[str, str, int, int]) -> tuple[int, int, str, str]:
    return row[2], row[3], row[0], row[1]


_PERSONAL_LABELS = {
    "pupil": "pupil", "parent": "parent or carer", "staff_own": "staff member's own circumstances",
    "family": "family member", "private": "named individual", "staff": "staff member",
}


def _personal_label(m: Mention) -> str:
    return "your child" if m.source == "your_child" else _PERSONAL_LABELS.get(m.role, m.role)
