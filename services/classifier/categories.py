"""Which sensitive categories a message discloses about an identifiable person, with evidence spans.

Scoping rules (from the labelling guide):
- a cue counts only about an identifiable person: in a message to one family, any sentence
  that is not a generic notice ("all pupils", "if your child ..."); in a broadcast, only the
  sentences that name a person (or continue about them with a pronoun);
- masked phrases, negated injuries/police, sign-offs and role titles do not count;
- weak cues need corroboration (two of them, or a strong cue of the same category);
- "safeguarding procedures" used only to chase an absence does not count;
- bank details are always financial.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from services.classifier.doc import Doc
from services.classifier.lexicon import CATEGORIES, NEGATABLE, SCANNER, capital_before, negated
from services.classifier.people import Mention

_GENERIC = re.compile(
    r"\b(?:(?:all|every|any|each|most|many|some) (?:of (?:our|the) )?(?:pupils?|students?|children|child|families|"
    r"family|parents|year groups?|classes|staff|members)|whole[- ]school|children who|pupils who|students who|"
    r"families who|parents who|we are (?:proud|part)|"
    r"(?:parents|you) have the (?:legal )?right|a reminder that|information (?:about|on))\b", re.IGNORECASE)
_GENERIC_IF = re.compile(
    r"\b(?:if|whether|in case|should) (?:you|your child|anyone|any \w+|a child|children|pupils|students|families|"
    r"parents)\b[^,;:.!?\n]*$", re.IGNORECASE)
_PRONOUNS = frozenset("he she him her his hers himself herself".split())
_GENERIC_WORDS = frozenset(
    "all every any each most many some whole children pupils students families parents we reminder information".split())
_ABSENCE = re.compile(
    r"\b(?:not arrived|absent|absence|not in school|not been registered|hasn't been registered|whereabouts|"
    r"unable to (?:contact|reach)|not heard from you|marked as|attendance)\b", re.IGNORECASE)


class CategoryHit(NamedTuple):
    """One cue that counted: category, span, strength."""

    category: str
    start: int
    end: int
    strong: bool


def find_categories(doc: Doc, mentions: Sequence[Mention], personalised: bool,
                    bank_spans: Sequence[tuple[int, int]]) -> list[CategoryHit]:
    """Cues that count for the categories of this message (empty categories mean none applies)."""
    about = _person_sentences(doc, mentions, personalised)
    text = doc.combined
    found: dict[str, list[tuple[str, int, int]]] = {"strong": [], "weak": [], "mask": [], "capital": []}
    for key, s, e in SCANNER.scan(text, _word_starts(doc, about)):
        kind, cat = key.split(":", 1)
        found[kind].append((cat, s, e))
    for cat, s, e in found["capital"]:
        begin = capital_before(text, s)
        if begin is not None and not doc.in_signoff(begin):
            found["strong"].append((cat, begin, e))
    masks: dict[str, list[tuple[int, int]]] = {}
    for cat, s, e in found["mask"]:
        masks.setdefault(cat, []).append((s, e))
    strong = _group(doc, found["strong"], about, masks)
    weak = _group(doc, found["weak"], about, masks)
    hits: list[CategoryHit] = [CategoryHit("financial", s, e, True) for s, e in bank_spans]
    for category in CATEGORIES:
        st = strong.get(category, [])
        wk = [w for w in weak.get(category, ()) if not any(s <= w[0] < e for s, e in st)]
        if not st and len(wk) < 2:
            continue
        if category == "safeguarding" and not st and _ABSENCE.search(text):
            continue  # "in line with our safeguarding procedures, please tell us why X is absent"
        if st or len({text[s:e].lower() for s, e in wk}) >= 2:
            hits.extend(CategoryHit(category, s, e, True) for s, e in st)
            hits.extend(CategoryHit(category, s, e, False) for s, e in wk)
    return hits


def _group(doc: Doc, found: Sequence[tuple[str, int, int]], about: dict[int, bool],
           masks: dict[str, list[tuple[int, int]]]) -> dict[str, list[tuple[int, int]]]:
    """Keep the cues that can be about a person; group them by category."""
    text = doc.combined
    out: dict[str, list[tuple[int, int]]] = {}
    for category, start, end in found:
        sent = doc.sentence_of(start)
        if not about.get(sent, False) or doc.in_signoff(start):
            continue
        if any(s <= start < e or s < end <= e for s, e in masks.get(category, ())):
            continue
        if category in NEGATABLE and negated(text, start):
            continue
        lead = text[doc.sentences[sent][0]:start].lower()
        if ("if " in lead or "whether" in lead or "in case" in lead or "should" in lead) and _GENERIC_IF.search(lead):
            continue
        out.setdefault(category, []).append((start, end))
    return out


def _person_sentences(doc: Doc, mentions: Sequence[Mention], personalised: bool) -> dict[int, bool]:
    """Sentence index -> whether cues in it can be about an identifiable person."""
    named = {doc.sentence_of(m.start) for m in mentions if m.personal}
    pronoun = {t.sent for t in doc.tokens if t.norm in _PRONOUNS}
    if personalised:
        generic = {t.sent for t in doc.tokens if t.norm in _GENERIC_WORDS}
        return {idx: idx in named or idx in pronoun or idx not in generic
                or not _GENERIC.search(doc.sentence_text(idx)) for idx in range(len(doc.sentences))}
    return {idx: idx in named or (idx in pronoun and idx - 1 in named) for idx in range(len(doc.sentences))}


def _word_starts(doc: Doc, about: dict[int, bool]) -> list[int]:
    """Starts of the words in sentences that can be about a person (and of hyphenated words' parts)."""
    starts = [t.start for t in doc.tokens if about[t.sent]]
    for t in doc.tokens:
        if "-" in t.raw and about[t.sent]:
            starts.extend(t.start + i + 1 for i, ch in enumerate(t.raw) if ch == "-")
    return starts
