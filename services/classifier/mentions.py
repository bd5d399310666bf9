"""A mention of a person in a message, and token-adjacency helpers shared by the name finders."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from services.classifier.doc import Doc, Token
from services.classifier.names import NOT_SURNAME


class Mention(NamedTuple):
    """A reference to a person: its span, who they are, and what it implies."""

    start: int
    end: int
    role: str            # pupil | parent | staff | private | figure | family
    source: str          # roster | recipient | title | greeting | signoff | name | your_child
    personal: bool       # identifies a private individual (not a staff member in role)
    other_pupil: bool = False
    is_name: bool = True


class Taken:
    """Character offsets already covered by a mention."""

    def __init__(self, size: int, mentions: Sequence[Mention]) -> None:
        self.mask = bytearray(size + 1)
        for m in mentions:
            self.add(m)

    def add(self, m: Mention) -> None:
        self.mask[m.start:m.end] = b"\x01" * (m.end - m.start)

    def __contains__(self, pos: int) -> bool:
        return bool(self.mask[pos])


def joined(text: str, a: Token, b: Token, allow_dot: bool = False) -> bool:
    gap = text[a.end:b.start]
    if allow_dot and gap.startswith("."):
        gap = gap[1:]
    return 0 < len(gap) <= 2 and gap.strip(" \u00a0") == "" and not a.possessive


def name_like(t: Token) -> bool:
    return t.cap and len(t.raw) > 1 and t.norm not in NOT_SURNAME and not (t.raw.isupper() and len(t.raw) > 3)


def sentence_initial(doc: Doc, i: int) -> bool:
    t = doc.tokens[i]
    return i == 0 or doc.tokens[i - 1].sent != t.sent or bool(re.search(r"[:;–—-]\s*$", doc.combined[
        doc.tokens[i - 1].end:t.start]))
