"""Per-school pupil-name matcher.

Matching is a word-level trie: every roster name is tokenised with the same tokenizer as
messages, indexed by its normalised first word, and a message is scanned once, token by
token, with a dict lookup per token and a short look-ahead for the surname. That is
Aho-Corasick restricted to word boundaries: linear in the message, independent of roster
size, and case/accent/possessive tolerant because it compares normalised words
("RUBY", "Ruby's", "ruby" all hit "Ruby Wright"). No compiled dependency is needed
(pyahocorasick would work, but works on characters and would need word-boundary and
possessive post-filtering, which is most of the logic here anyway).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Literal, NamedTuple

from services.classifier.doc import Token, split_sentences, tokenize
from services.classifier.names import FIGURE_PREFIXES, NOT_SURNAME, ORDINARY_WORD_NAMES, ORG_SUFFIXES, TITLES

# After a name that is also a word, these show the word is meant ("Summer term", "Holly Class").
_WORD_FOLLOWERS = frozenset(
    """term terms holiday holidays hols fair fete camp school time break uniform club clubs show concert
        festival sports reading class house team group room trip day days week weeks half garden party play
        service evening morning afternoon menu lunch lunches activities activity reading project topic
        timetable assembly shoes kit bag bags colours color colour tree trees leaves flowers flower plants
        pot""".split())
_WORD_PRECEDERS = frozenset(
    """the this next last in of a an our your every each during until since by before after early late mid
        over through throughout wild sweet beautiful pink red""".split())
_MODAL_NAMES = frozenset("""will may hope mark grant drew sue rich pat jay bill frank chase hunter reed dawn""".split())
_MODAL_NEXT = frozenset("you u we they i he she it there be all everyone your our this that".split())
_SIBLINGS = frozenset(
    """sister brother sibling siblings twin cousin stepbrother stepsister half-brother half-sister sis bro""".split())
_DATE_BEFORE = re.compile(r"\d(?:st|nd|rd|th)?\s+$")
_DATE_AFTER = re.compile(r"^\s+\d")
Form = Literal["full", "first", "initial"]


class RosterHit(NamedTuple):
    """A roster pupil named in a message: span, candidate pupils (indices), how they were named."""

    start: int
    end: int
    pupils: tuple[int, ...]
    form: Form
    sibling_context: bool = False


class Roster:
    """Matches one school's pupil names in messages; build once per roster and reuse."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names: tuple[str, ...] = tuple(dict.fromkeys(n.strip() for n in names if n and n.strip()))
        self._parts: list[tuple[str, ...]] = [tuple(t.norm for t in tokenize(n)) for n in self.names]
        by_first: dict[str, list[int]] = {}
        for idx, parts in enumerate(self._parts):
            if parts:
                by_first.setdefault(parts[0], []).append(idx)
        self._by_first = {k: tuple(v) for k, v in by_first.items()}
        self._full_index = {parts: idx for idx, parts in enumerate(self._parts)}
        self._lookups: dict[str, int | None] = {}
        self.surnames = frozenset(p for parts in self._parts for p in parts[1:])

    @staticmethod
    @lru_cache(maxsize=4096)
    def cached(names: tuple[str, ...]) -> Roster:
        """A shared matcher for this exact roster (rosters repeat across a school's messages)."""
        return Roster(names)

    def index_of(self, name: str) -> int | None:
        """Index of a full name on the roster, compared case- and accent-insensitively."""
        if name not in self._lookups:
            if len(self._lookups) > 10_000:
                self._lookups.clear()
            self._lookups[name] = self._full_index.get(tuple(t.norm for t in tokenize(name)))
        return self._lookups[name]

    def surname_of(self, idx: int) -> tuple[str, ...]:
        return self._parts[idx][1:]

    def find_in(self, text: str) -> list[RosterHit]:
        """Roster pupils named in a plain string."""
        tokens = tokenize(text, 0, split_sentences(text))
        return self.find(tokens, text, casual=is_casual(tokens))

    def find(self, tokens: Sequence[Token], text: str, *, casual: bool = False) -> list[RosterHit]:
        """Roster pupils named in tokenised `text`, with the guide's exclusions applied.

        `casual` marks an all-lower-case, texting-style message, where a lower-case "ruby"
        is still a name unless the context says it is the word.
        """
        hits: list[RosterHit] = []
        by_first = self._by_first
        covered = -1
        for i in [i for i, t in enumerate(tokens) if t.norm in by_first]:  # one dict probe per word, in C
            if tokens[i].start < covered:
                continue  # inside the full name just matched
            hit = self._match_at(tokens, text, i, by_first[tokens[i].norm], casual)
            if hit is not None:
                hits.append(hit)
                covered = hit.end
        return hits

    def _match_at(self, tokens: Sequence[Token], text: str, i: int, cands: tuple[int, ...],
                  casual: bool) -> RosterHit | None:
        tok = tokens[i]
        prev = tokens[i - 1] if i > 0 and _adjacent(text, tokens[i - 1], tok) else None
        if prev is not None and (prev.norm in TITLES or prev.norm in FIGURE_PREFIXES):
            return None  # "Mrs Ruby ...", "St Mary's": an adult or a saint, not a pupil
        full = self._full_match(tokens, text, i, cands)
        if full is not None:
            return full
        nxt = tokens[i + 1] if i + 1 < len(tokens) and _adjacent(text, tok, tokens[i + 1]) else None
        initial = _initial_match(text, tok, nxt, [c for c in cands if self._parts[c][1:]],
                                 [self._parts[c][-1] for c in cands if self._parts[c][1:]])
        if initial:
            return RosterHit(tok.start, initial[0], tuple(initial[1]), "initial")
        if nxt is not None and not tok.possessive and nxt.norm in ORG_SUFFIXES:
            return None  # "Victoria Road", "Rowan Class", "Holly House": a place or a group
        if nxt is not None and nxt.cap and not tok.possessive and _is_other_surname(nxt, self.surnames):
            return None  # "Grace Evans" when the roster's Grace is Grace Green: a different person
        if tok.norm in ORDINARY_WORD_NAMES and _reads_as_word(tokens, text, i, prev, nxt, casual):
            return None
        sibling = any(t.norm in _SIBLINGS for t in tokens[max(0, i - 4):i] if t.sent == tok.sent)
        return RosterHit(tok.start, tok.end, cands, "first", sibling)

    def _full_match(self, tokens: Sequence[Token], text: str, i: int, cands: tuple[int, ...]) -> RosterHit | None:
        best: RosterHit | None = None
        for c in cands:
            for tail in _tails(self._parts[c][1:]):
                if _seq_equal(tokens, text, i, tail):
                    end = tokens[i + len(tail)].end
                    if best is None or end > best.end:
                        best = RosterHit(tokens[i].start, end, (c,), "full")
                    break
        return best


def _tails(rest: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Surname forms that count as a full name: the whole surname, or its last word."""
    if not rest:
        return []
    return [rest] if len(rest) == 1 else [rest, rest[-1:]]


def _seq_equal(tokens: Sequence[Token], text: str, i: int, tail: tuple[str, ...]) -> bool:
    for k, part in enumerate(tail, start=1):
        t = tokens[i + k] if i + k < len(tokens) else None
        if t is None or t.norm != part or not _adjacent(text, tokens[i + k - 1], t):
            return False
        if tokens[i + k - 1].possessive:
            return False
    return True


def _adjacent(text: str, a: Token, b: Token) -> bool:
    """Two tokens separated only by spaces (no punctuation, no line break)."""
    gap = text[a.end:b.start]
    if a.possessive:
        gap = re.sub(r"^['’]s?", "", gap)
    return 0 < len(gap) <= 2 and gap.strip(" \u00a0") == ""


def _initial_match(text: str, tok: Token, nxt: Token | None, cands: list[int],
                   surnames: list[str]) -> tuple[int, list[int]] | None:
    """"Ava B." / "Ava B": a first name and the initial of a roster surname."""
    if nxt is None or len(nxt.raw) != 1 or not nxt.raw.isupper():
        return None
    if not re.match(r"\.|\s|$|[,;:!?)]", text[nxt.end:nxt.end + 1] or ""):
        return None
    picked = [c for c, s in zip(cands, surnames) if s[:1] == nxt.norm]
    if not picked:
        return None
    end = nxt.end + (1 if text[nxt.end:nxt.end + 1] == "." else 0)
    return end, picked


def _is_other_surname(nxt: Token, roster_surnames: frozenset[str]) -> bool:
    """A capitalised word right after a first name that is a surname not on the roster."""
    if nxt.norm in roster_surnames:
        return False
    return nxt.norm not in NOT_SURNAME and nxt.raw[:1].isupper() and len(nxt.raw) > 1 and not nxt.raw.isupper()


def _reads_as_word(tokens: Sequence[Token], text: str, i: int, prev: Token | None, nxt: Token | None,
                   casual: bool) -> bool:
    """Whether a roster first name that is also a word ("Summer", "Will", "May") is used as the word."""
    tok = tokens[i]
    if not tok.cap and not casual:
        return True
    if tok.possessive:
        return False
    if nxt is not None and nxt.norm in _WORD_FOLLOWERS:
        return True
    if prev is not None and prev.norm in _WORD_PRECEDERS:
        return True
    if _DATE_BEFORE.search(text[max(0, tok.start - 6):tok.start]) or _DATE_AFTER.match(text[tok.end:tok.end + 3]):
        return True
    return tok.norm in _MODAL_NAMES and nxt is not None and nxt.norm in _MODAL_NEXT


def build_roster(names: Sequence[str] | Roster | None, recipient: str | None = None) -> Roster | None:
    """The matcher for a message: a prebuilt Roster as is, else a cached one (recipient included)."""
    if names is None:
        return None
    if isinstance(names, Roster):
        if recipient and names.index_of(recipient) is None:
            return Roster.cached(names.names + (recipient,))
        return names
    listed = tuple(names)
    if recipient and recipient not in listed:
        listed = listed + (recipient,)
    return Roster.cached(listed)


def is_casual(tokens: Sequence[Token]) -> bool:
    """A texting-style message: most sentences start in lower case ("hi pls can ruby bring ...")."""
    firsts = [t for i, t in enumerate(tokens) if i == 0 or tokens[i - 1].sent != t.sent]
    return bool(firsts) and sum(not t.cap for t in firsts) * 2 >= len(firsts)
