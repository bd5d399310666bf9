"""Who a message names: pupils on the roster, parents, staff (in role or in their own circumstances), others.

Each mention says whether it identifies a private individual (`personal`) and whether it
names a roster pupil other than the recipient (`other_pupil`). Staff named only in their
work role (sign-off, contact, "will teach 4B") are PII names but not personal; public and
historical figures, authors and saints are neither.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from services.classifier.bodynames import find_body_names
from services.classifier.doc import Doc
from services.classifier.lexicon import CHARITIES
from services.classifier.mentions import Mention, Taken, joined, name_like
from services.classifier.names import FIRST_NAMES, NOT_SURNAME, ORG_SUFFIXES, SURNAMES, TITLES
from services.classifier.roster import Roster

_GROUP_WORDS = frozenset(
    """parents parent carers carer families family all everyone class year team guardians guardian sir
        madam mum dad mummy daddy gran granny grandma grandad grandpa nan nana auntie aunty uncle colleagues
        friends students pupils children staff governors members there folks""".split())
STAFF_CIRCUMSTANCE = re.compile(
    r"\b(?:strike|industrial action|union|maternity|paternity|parental leave|adoption leave|pregnan\w*|"
    r"expecting a baby|new baby|baby (?:boy|girl)|off sick|sick leave|illness|unwell|ill|operation|surgery|"
    r"recover\w*|hospital|injur\w*|accident|a fall|broken|bereave\w*|funeral|passed away|died|"
    r"compassionate leave|wedding|married|engaged|leaving|leave us|left us|retir\w*|moving (?:away|to)|"
    r"new job|jury service|medical|treatment|cancer|diagnos\w*|off work|on leave|signed off|be off)\b",
    re.IGNORECASE)
_CHILD_WORDS = frozenset("child son daughter children ward grandchild".split())
_CHARITY = re.compile(CHARITIES, re.IGNORECASE)
_YOUR_CHILD_EVENT = re.compile(
    r"\byour (?:son|daughter|child) (?:has been|was|has|had|is being|is) (?:\w+ ){0,2}?(?:marked|given|sent|"
    r"involved|injured|hurt|excluded|suspended|awarded|placed|detention|absent|late|unwell|ill|referred)\b",
    re.IGNORECASE)


def find_people(doc: Doc, roster: Roster | None, recipient: int | None, personalised: bool) -> list[Mention]:
    """Every person mention in the message, roster pupils first, then titled, greeted, signed and other names."""
    out: list[Mention] = []
    casual = doc.casual
    if roster is not None:
        out.extend(_roster_mentions(doc, roster, recipient, casual))
    taken = Taken(len(doc.combined), out)
    for finder in (_titled, _greeted, _signed, find_body_names):
        for m in finder(doc, taken):
            taken.add(m)
            out.append(m)
    out.extend(_your_child(doc, personalised))
    return [_with_circumstances(doc, m, out) for m in out]


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


def _titled(doc: Doc, taken: Taken) -> list[Mention]:
    """Mr/Mrs/Ms/Miss/Dr/PC + surname (or first name + surname)."""
    out, toks, text = [], doc.tokens, doc.combined
    for i in doc.capitalised:
        tok = toks[i]
        if tok.norm not in TITLES or i + 1 >= len(toks) or tok.start in taken:
            continue
        j = i + 1
        if not joined(text, tok, toks[j], allow_dot=True) or not name_like(toks[j]):
            continue
        while j + 1 < len(toks) and j - i < 3 and joined(text, toks[j], toks[j + 1]) and name_like(toks[j + 1]) \
                and not toks[j].possessive:
            j += 1
        zone = "greeting" if doc.in_greeting(tok.start) else "signoff" if doc.in_signoff(tok.start) else "title"
        role = "parent" if zone == "greeting" else "staff"
        out.append(Mention(tok.start, toks[j].end, role, zone, zone == "greeting"))
    return out


def _greeted(doc: Doc, taken: Taken) -> list[Mention]:
    """Names after "Hi"/"Dear" at the start: the parent or carer the message is addressed to."""
    if doc.greeting is None:
        return []
    toks = [t for t in doc.tokens_in(*doc.greeting) if t.start not in taken]
    names = [t for t in toks if t.cap and len(t.raw) > 1 and t.norm not in _GROUP_WORDS
             and t.norm not in NOT_SURNAME and not t.raw.isupper()]
    if not names or any(t.norm in ORG_SUFFIXES or t.norm in _GROUP_WORDS for t in toks):
        return []
    return [Mention(names[0].start, names[-1].end, "parent", "greeting", True)]


def _signed(doc: Doc, taken: Taken) -> list[Mention]:
    """Staff names in the sign-off: known given names or surnames, or the word straight after "Thanks"."""
    if doc.signoff is None:
        return []
    toks = doc.tokens_in(*doc.signoff)
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
        while j + 1 < len(toks) and joined(doc.combined, toks[j], toks[j + 1]) and name_like(toks[j + 1]):
            j += 1
        if j + 1 < len(toks) and joined(doc.combined, toks[j], toks[j + 1]) and toks[j + 1].norm in ORG_SUFFIXES:
            i = j + 2
            continue
        out.append(Mention(t.start, toks[j].end, "staff", "signoff", False))
        i = j + 1
    return out


def _your_child(doc: Doc, personalised: bool) -> list[Mention]:
    """"Your child/son/daughter": personal in a message to one family; in a broadcast only with an event."""
    toks, out = doc.tokens, []
    for i, t in enumerate(toks[:-1]):
        if t.norm != "your" or toks[i + 1].norm not in _CHILD_WORDS:
            continue
        if personalised or _YOUR_CHILD_EVENT.match(doc.combined, t.start):
            out.append(Mention(t.start, toks[i + 1].end, "pupil", "your_child", True, is_name=False))
    return out


def _with_circumstances(doc: Doc, m: Mention, mentions: Sequence[Mention]) -> Mention:
    """A staff member named with their own circumstances (strike, illness, leave, wedding) is personal."""
    if m.role != "staff" or m.source == "signoff":
        return m
    sent = doc.sentence_of(m.start)
    s_end = doc.sentences[sent][1]
    later = [o.start for o in mentions if o.role == "staff" and m.end <= o.start < s_end]
    clause = _CHARITY.sub("", doc.combined[m.end:min(later, default=s_end)])
    if STAFF_CIRCUMSTANCE.search(clause):
        return m._replace(personal=True, role="staff_own")
    return m


