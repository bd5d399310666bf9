"""Names in the body of a message that no roster knows: given names (with surname or initial) in context.

A known given name, or a capitalised word followed by a known surname, is a person unless
the context says otherwise: a place or business ("Victoria Road", "Chloe's Bakery"), a story
("Jack and the Beanstalk"), a public or historical figure ("by Roald Dahl", "Mary Seacole"),
a word used as a word ("the Rose garden"), or a role ("our new receptionist, Amira").
"""
from __future__ import annotations

import re

from services.classifier.doc import Doc, Token
from services.classifier.mentions import Mention, Taken, joined, name_like, sentence_initial
from services.classifier.names import (
    BUSINESS_WORDS,
    FIGURE_PREFIXES,
    FIRST_NAMES,
    NOT_SURNAME,
    ORDINARY_WORD_NAMES,
    ORG_SUFFIXES,
    PUBLIC_FIGURES,
    SURNAMES,
    TITLES,
)

_GIVEN = FIRST_NAMES | ORDINARY_WORD_NAMES   # given names, including those that are also words ("Ruby")
_MONTHS = frozenset("""january february march april may june july august september october november december jan feb mar
    apr jun jul aug sep sept oct nov dec mon tue tues wed weds thu thur thurs fri sat sun""".split())
# A name right after one of these words (", " allowed) is someone in a role: "her social worker, Sam Hale".
_ROLE_NOUNS = frozenset(
    """teacher teachers headteacher head senco dsl tutor coach assistant ta worker officer nurse lead
        leader manager governor secretary administrator caretaker assessor psychologist therapist counsellor
        pc author poet illustrator visitor speaker guest receptionist librarian chef cook coordinator
        co-ordinator mentor advisor adviser practitioner clerk principal team service deputy supply""".split())
# ... and after these, a public figure: "by Michael Rosen", "the story of Grace Darling".
_STORY_TITLE = re.compile(r" and the (?-i:[A-Z])")
_FIGURE_WORDS = frozenset("""by author poet illustrator artist scientist explorer inventor composer""".split())
_FIGURE_OF = frozenset("story life legend works poems books tale adventures".split())
_ROLE_AFTER = re.compile(
    r"(?:,? (?:our|the|a|who is (?:our|the|a)) (?:new )?[\w ]{0,30}?(?:" + "|".join(sorted(_ROLE_NOUNS)) + r")\b"
    r"| \((?!\d)[^)]{0,40}\)| will (?:be )?(?:teach|teaching|cover|covering|lead|leading|run|running|take|"
    r"taking|join|joining|visit|visiting)|,? (?:joins|has joined) us as| is (?:our|the) (?:new )?\w+)",
    re.IGNORECASE)

def find_body_names(doc: Doc, taken: Taken) -> list[Mention]:
    """Names in the body: a known given name (with any surname or initial), or a capitalised word + surname."""
    out: list[Mention] = []
    toks = doc.tokens
    last = len(toks) - 1
    skip_to = -1
    for i in doc.capitalised:
        t = toks[i]
        if i <= skip_to or t.start in taken:
            continue
        if t.norm not in _GIVEN and "-" not in t.norm and (i == last or toks[i + 1].norm not in SURNAMES):
            continue  # fast path: neither a known given name nor followed by a known surname
        span = _name_span(doc, i) if not t.raw.isupper() else None
        if span is not None:
            out.append(_classify_body_name(doc, i, *span))
            skip_to = span[0]
    return [m for m in out if m.role != "skip"]


def _name_span(doc: Doc, i: int) -> tuple[int, int] | None:
    toks, text = doc.tokens, doc.combined
    t = toks[i]
    if doc.in_greeting(t.start) or doc.in_signoff(t.start) or len(t.raw) < 2:
        return None
    prev = toks[i - 1] if i > 0 and joined(text, toks[i - 1], t) else None
    if prev is not None and (prev.norm in FIGURE_PREFIXES or prev.norm in TITLES):
        return None
    nxt = toks[i + 1] if i + 1 < len(toks) and joined(text, t, toks[i + 1]) else None
    if t.norm in FIGURE_PREFIXES or t.norm in TITLES:
        return None  # "King Charles", "Father Christmas": not a given name
    first = t.norm in _GIVEN or all(p in _GIVEN for p in t.norm.split("-"))
    surname_next = nxt is not None and name_like(nxt) and not t.possessive
    if not first and not (surname_next and nxt.norm in SURNAMES and t.norm not in NOT_SURNAME
                          and not sentence_initial(doc, i)):
        return None
    if nxt is not None and nxt.norm in ORG_SUFFIXES and not t.possessive:
        return None
    follow = toks[i + 1] if i + 1 < len(toks) and toks[i + 1].start - t.end <= 3 else None
    if follow is not None and follow.norm in BUSINESS_WORDS and follow.cap:
        return None  # "Chloe's Bakery"
    if _STORY_TITLE.match(text, t.end):
        return None  # "Jack and the Beanstalk", "James and the Giant Peach"
    if surname_next:
        j = i + 1
        while j + 1 < len(toks) and j - i < 2 and joined(text, toks[j], toks[j + 1]) and name_like(toks[j + 1]) \
                and not toks[j].possessive:
            j += 1
        if j + 1 < len(toks) and joined(text, toks[j], toks[j + 1]) and toks[j + 1].norm in ORG_SUFFIXES:
            return None
        return j, toks[j].end
    initial = re.match(r" ([A-Z])\.", text[t.end:t.end + 3]) if not t.possessive else None
    if initial:
        return i, t.end + 3
    if t.norm in _MONTHS:
        return None
    if t.norm in ORDINARY_WORD_NAMES and not _ordinary_as_name(doc, i, prev):
        return None
    return i, t.end


def _ordinary_as_name(doc: Doc, i: int, prev: Token | None) -> bool:
    """"Ruby in our class has ..." but not "Summer is here" or "the Rose garden"."""
    t = doc.tokens[i]
    if sentence_initial(doc, i) or (prev is not None and prev.norm in {"the", "this", "next", "last", "a", "in",
                                                                          "of", "our", "your", "every"}):
        return False
    after = doc.combined[t.end:t.end + 24]
    return t.possessive or bool(re.match(r" (?:has|is|was|and|who|in (?:our|the|\w+) class)\b", after))


def _classify_body_name(doc: Doc, i: int, end_i: int, end: int) -> Mention:
    t, text = doc.tokens[i], doc.combined
    norms = [tok.norm for tok in doc.tokens[i:end_i + 1]]
    full = " ".join(norms)
    if any(" ".join(norms[:k]) in PUBLIC_FIGURES for k in range(2, len(norms))):
        full = " ".join(norms[:2])  # "Harry Potter Book Night"
    prev = _word_before(doc, i)
    prev2 = _word_before(doc, i - 1) if prev else None
    if full in PUBLIC_FIGURES or t.norm in PUBLIC_FIGURES or prev in _FIGURE_WORDS or (
            prev == "of" and prev2 in _FIGURE_OF):
        return Mention(t.start, end, "skip", "name", False)
    if prev in _ROLE_NOUNS or _ROLE_AFTER.match(text, end, min(len(text), end + 60)):
        return Mention(t.start, end, "staff", "name", False)
    return Mention(t.start, end, "private", "name", True)


def _word_before(doc: Doc, i: int) -> str | None:
    """The previous word on the same line, if only spaces or a comma separate them."""
    if i <= 0:
        return None
    prev, t = doc.tokens[i - 1], doc.tokens[i]
    gap = doc.combined[prev.end:t.start]
    return prev.norm if len(gap) <= 3 and gap.strip(" ,\u00a0") == "" and (not prev.possessive or gap) else None


