"""Who a message names: pupils on the roster, parents, staff (in role or in their own circumstances), others.

Each mention says whether it identifies a private individual (`personal`) and whether it
names a roster pupil other than the recipient (`other_pupil`). Staff named only in their
work role (sign-off, contact, "will teach 4B") are PII names but not personal; public and
historical figures, authors and saints are neither.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.classifier.doc import Doc, Token
from services.classifier.names import (
    FIGURE_PREFIXES, FIRST_NAMES, NOT_SURNAME, ORDINARY_WORD_NAMES, ORG_SUFFIXES, PUBLIC_FIGURES, SURNAMES, TITLES,
)
from services.classifier.roster import Roster, is_casual

_GROUP_WORDS = frozenset(
    """parents parent carers carer families family all everyone class year team guardians guardian sir madam
    mum dad mummy daddy gran granny grandma grandad grandpa nan nana auntie aunty uncle colleagues friends
    students pupils children staff governors members there folks""".split())
_MONTHS = frozenset("january february march april may june july august september october november december "
                    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed weds thu thur thurs fri sat sun"
                    .split())
_ROLE_BEFORE = re.compile(
    r"(?:\b(?:our|the|new|your child's|their|his|her|a) (?:class |form |deputy |assistant |acting )?"
    r"(?:teacher|head ?teacher|head|senco|dsl|tutor|coach|teaching assistant|ta|social worker|liaison officer|"
    r"nurse|officer|worker|lead|leader|manager|head of [\w ]+?|governor|chair of governors|secretary|"
    r"administrator|caretaker|assessor|psychologist|therapist|counsellor|pc|author|poet|illustrator|visitor|"
    r"speaker|guest|receptionist|librarian|chef|cook|coordinator|co-ordinator|mentor|advisor|adviser|"
    r"practitioner|clerk|designated safeguarding lead|designated teacher|supply teacher|principal)"
    r"|\bfrom the \w+ (?:team|service))\s*,?\s*$", re.IGNORECASE)
_FIGURE_BEFORE = re.compile(r"(?:\b(?:by|author|poet|illustrator|artist|scientist|explorer|inventor|composer)"
                            r"|\b(?:story|life|legend|works|poems|books) of)\s*,?\s*$", re.IGNORECASE)
_ROLE_AFTER = re.compile(
    r"^(?:,? (?:our|the|a|who is (?:our|the|a)) (?:new )?[\w ]{0,30}?(?:teacher|senco|dsl|lead|leader|manager|"
    r"officer|worker|tutor|coach|assistant|head|nurse|governor|coordinator|mentor|counsellor|librarian|chef)"
    r"| \((?!\d)[^)]{0,40}\)| will (?:be )?(?:teach|teaching|cover|covering|lead|leading|run|running|take|"
    r"taking|join|joining|visit|visiting)|,? (?:joins|has joined) us as| is (?:our|the) (?:new )?\w+)",
    re.IGNORECASE)
STAFF_CIRCUMSTANCE = re.compile(
    r"\b(?:strike|industrial action|union|maternity|paternity|parental leave|adoption leave|pregnan\w*|"
    r"expecting a baby|new baby|baby (?:boy|girl)|off sick|sick leave|illness|unwell|ill|operation|surgery|"
    r"recover\w*|hospital|injur\w*|accident|a fall|broken|bereave\w*|funeral|passed away|died|"
    r"compassionate leave|wedding|married|engaged|leaving|leave us|left us|retir\w*|moving (?:away|to)|"
    r"new job|jury service|medical|treatment|cancer|diagnos\w*|off work|on leave|signed off|be off)\b",
    re.IGNORECASE)
_YOUR_CHILD = re.compile(r"\byour (?:child|son|daughter|children|ward|grandchild)\b", re.IGNORECASE)
_YOUR_CHILD_EVENT = re.compile(
    r"\byour (?:son|daughter|child) (?:has been|was|has|had|is being|is) (?:\w+ ){0,2}?(?:marked|given|sent|"
    r"involved|injured|hurt|excluded|suspended|awarded|placed|detention|absent|late|unwell|ill|referred)\b",
    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Mention:
    """A reference to a person: its span, who they are, and what it implies."""

    start: int
    end: int
    role: str            # pupil | parent | staff | private | figure | family
    source: str          # roster | recipient | title | greeting | signoff | name | your_child
    personal: bool       # identifies a private individual (not a staff member in role)
    other_pupil: bool = False
    is_name: bool = True


def find_people(doc: Doc, roster: Roster | None, recipient: int | None, personalised: bool) -> list[Mention]:
    """Every person mention in the message, roster pupils first, then titled, greeted, signed and other names."""
    out: list[Mention] = []
    casual = is_casual(doc.text)
    if roster is not None:
        out.extend(_roster_mentions(doc, roster, recipient, casual))
    taken = _Taken(len(doc.combined), out)
    for finder in (_titled, _greeted, _signed, _body_names):
        for m in finder(doc, taken):
            taken.add(m)
            out.append(m)
    out.extend(_your_child(doc, personalised))
    return [_with_circumstances(doc, m, out) for m in out]


class _Taken:
    """Character offsets already covered by a mention."""

    def __init__(self, size: int, mentions: Sequence[Mention]) -> None:
        self.mask = bytearray(size + 1)
        for m in mentions:
            self.add(m)

    def add(self, m: Mention) -> None:
        self.mask[m.start:m.end] = b"\x01" * (m.end - m.start)

    def __contains__(self, pos: int) -> bool:
        return bool(self.mask[pos])


def _roster_mentions(doc: Doc, roster: Roster, recipient: int | None, casual: bool) -> list[Mention]:
    out = []
    rec_surname = roster.surname_of(recipient) if recipient is not None else ()
    for hit in roster.find(doc.tokens, doc.combined, casual=casual):
        adult_zone = doc.in_greeting(hit.start) or doc.in_signoff(hit.start)
        if recipient is not None and recipient in hit.pupils:
            out.append(Mention(hit.start, hit.end, "pupil", "recipient", True))
        elif adult_zone:
            out.append(Mention(hit.start, hit.end, "parent" if doc.in_greeting(hit.start) else "staff",
                               "roster", doc.in_greeting(hit.start)))
        elif hit.sibling_context and recipient is not None and not any(
                roster.surname_of(p) == rec_surname for p in hit.pupils):
            out.append(Mention(hit.start, hit.end, "family", "roster", True))  # a sibling who is not on the roster
        else:
            out.append(Mention(hit.start, hit.end, "pupil", "roster", True, other_pupil=recipient is not None))
    return out


def _titled(doc: Doc, taken: _Taken) -> list[Mention]:
    """Mr/Mrs/Ms/Miss/Dr/PC + surname (or first name + surname)."""
    out, toks, text = [], doc.tokens, doc.combined
    for i in doc.capitalised:
        tok = toks[i]
        if tok.norm not in TITLES or i + 1 >= len(toks) or tok.start in taken:
            continue
        j = i + 1
        if not _joined(text, tok, toks[j], allow_dot=True) or not _name_like(toks[j]):
            continue
        while j + 1 < len(toks) and j - i < 3 and _joined(text, toks[j], toks[j + 1]) and _name_like(toks[j + 1]) \
                and not toks[j].possessive:
            j += 1
        zone = "greeting" if doc.in_greeting(tok.start) else "signoff" if doc.in_signoff(tok.start) else "title"
        role = "parent" if zone == "greeting" else "staff"
        out.append(Mention(tok.start, toks[j].end, role, zone, zone == "greeting"))
    return out


def _greeted(doc: Doc, taken: _Taken) -> list[Mention]:
    """Names after "Hi"/"Dear" at the start: the parent or carer the message is addressed to."""
    if doc.greeting is None:
        return []
    toks = [t for t in doc.tokens if doc.greeting[0] <= t.start < doc.greeting[1] and t.start not in taken]
    names = [t for t in toks if t.cap and len(t.raw) > 1 and t.norm not in _GROUP_WORDS
             and t.norm not in NOT_SURNAME and not t.raw.isupper()]
    if not names or any(t.norm in ORG_SUFFIXES or t.norm in _GROUP_WORDS for t in toks):
        return []
    return [Mention(names[0].start, names[-1].end, "parent", "greeting", True)]


def _signed(doc: Doc, taken: _Taken) -> list[Mention]:
    """Staff names in the sign-off: known given names or surnames, or the word straight after "Thanks"."""
    if doc.signoff is None:
        return []
    toks = [t for t in doc.tokens if doc.signoff[0] <= t.start < doc.signoff[1]]
    out: list[Mention] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        known = t.norm in FIRST_NAMES or t.norm in SURNAMES
        after_thanks = i > 0 and toks[i - 1].norm in {"thanks", "thx", "cheers"} \
            and "\n" not in doc.combined[toks[i - 1].end:t.start]
        if t.start in taken or not t.cap or t.raw.isupper() or t.norm in NOT_SURNAME or not (known or after_thanks):
            i += 1
            continue
        j = i
        while j + 1 < len(toks) and _joined(doc.combined, toks[j], toks[j + 1]) and _name_like(toks[j + 1]):
            j += 1
        if j + 1 < len(toks) and _joined(doc.combined, toks[j], toks[j + 1]) and toks[j + 1].norm in ORG_SUFFIXES:
            i = j + 2
            continue
        out.append(Mention(t.start, toks[j].end, "staff", "signoff", False))
        i = j + 1
    return out


def _body_names(doc: Doc, taken: _Taken) -> list[Mention]:
    """Names in the body: a known given name (with any surname or initial), or a capitalised word + surname."""
    out: list[Mention] = []
    toks = doc.tokens
    last = len(toks) - 1
    skip_to = -1
    for i in doc.capitalised:
        t = toks[i]
        if i <= skip_to or t.start in taken:
            continue
        if t.norm not in FIRST_NAMES and "-" not in t.norm and (i == last or toks[i + 1].norm not in SURNAMES):
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
    prev = toks[i - 1] if i > 0 and _joined(text, toks[i - 1], t) else None
    if prev is not None and (prev.norm in FIGURE_PREFIXES or prev.norm in TITLES):
        return None
    nxt = toks[i + 1] if i + 1 < len(toks) and _joined(text, t, toks[i + 1]) else None
    first = t.norm in FIRST_NAMES or all(p in FIRST_NAMES for p in t.norm.split("-"))
    surname_next = nxt is not None and _name_like(nxt) and not t.possessive
    if not first and not (surname_next and nxt.norm in SURNAMES and t.norm not in NOT_SURNAME
                          and not _sentence_initial(doc, i)):
        return None
    if nxt is not None and nxt.norm in ORG_SUFFIXES and not t.possessive:
        return None
    if surname_next:
        j = i + 1
        while j + 1 < len(toks) and j - i < 2 and _joined(text, toks[j], toks[j + 1]) and _name_like(toks[j + 1]) \
                and not toks[j].possessive:
            j += 1
        if j + 1 < len(toks) and _joined(text, toks[j], toks[j + 1]) and toks[j + 1].norm in ORG_SUFFIXES:
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
    if _sentence_initial(doc, i) or (prev is not None and prev.norm in {"the", "this", "next", "last", "a", "in",
                                                                          "of", "our", "your", "every"}):
        return False
    after = doc.combined[t.end:t.end + 24]
    return t.possessive or bool(re.match(r" (?:has|is|was|and|who|in (?:our|the|\w+) class)\b", after))


def _classify_body_name(doc: Doc, i: int, end_i: int, end: int) -> Mention:
    t, text = doc.tokens[i], doc.combined
    full = " ".join(tok.norm for tok in doc.tokens[i:end_i + 1])
    before = text[max(0, t.start - 60):t.start].split("\n")[-1]
    if full in PUBLIC_FIGURES or t.norm in PUBLIC_FIGURES or _FIGURE_BEFORE.search(before):
        return Mention(t.start, end, "skip", "name", False)
    after = text[end:end + 60].split("\n")[0]
    if _ROLE_BEFORE.search(before) or _ROLE_AFTER.match(after):
        return Mention(t.start, end, "staff", "name", False)
    return Mention(t.start, end, "private", "name", True)


def _your_child(doc: Doc, personalised: bool) -> list[Mention]:
    pattern = _YOUR_CHILD if personalised else _YOUR_CHILD_EVENT
    return [Mention(m.start(), m.end(), "pupil", "your_child", True, is_name=False)
            for m in pattern.finditer(doc.combined)]


def _with_circumstances(doc: Doc, m: Mention, mentions: Sequence[Mention]) -> Mention:
    """A staff member named with their own circumstances (strike, illness, leave, wedding) is personal."""
    if m.role != "staff" or m.source == "signoff":
        return m
    sent = doc.sentence_of(m.start)
    s_start, s_end = doc.sentences[sent]
    later = [o.start for o in mentions if o.role == "staff" and m.end <= o.start < s_end]
    clause = doc.combined[m.end:min(later, default=s_end)]
    if STAFF_CIRCUMSTANCE.search(clause):
        return replace(m, personal=True, role="staff_own")
    return m


def _joined(text: str, a: Token, b: Token, allow_dot: bool = False) -> bool:
    gap = text[a.end:b.start]
    if allow_dot and gap.startswith("."):
        gap = gap[1:]
    return 0 < len(gap) <= 2 and gap.strip(" \u00a0") == "" and not a.possessive


def _name_like(t: Token) -> bool:
    return t.cap and len(t.raw) > 1 and t.norm not in NOT_SURNAME and not (t.raw.isupper() and len(t.raw) > 3)


def _sentence_initial(doc: Doc, i: int) -> bool:
    t = doc.tokens[i]
    return i == 0 or doc.tokens[i - 1].sent != t.sent or bool(re.search(r"[:;–—-]\s*$", doc.combined[
        doc.tokens[i - 1].end:t.start]))
