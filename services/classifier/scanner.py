"""Fast multi-pattern cue scanning.

Python's `re` tries every branch of a large alternation at every position, which made a
few hundred cue patterns cost milliseconds per message. Here each pattern is filed under
the prefixes (up to four characters) it can start with, worked out from the parsed
pattern; at each word start one dict lookup finds the few small regexes that can match
there (each holds an optional look-ahead group per category), and one `match` call
reports every category whose cue starts at that word. The few patterns whose start
cannot be worked out, or is not a letter ("-£3.20"), are scanned the ordinary way.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from re import _constants as C
from re import _parser as P

_END = r"(?![\w])"
_WORD_START = re.compile(r"(?<![\w])[^\W\d_]")
_STOP = "\0"      # marks a prefix whose continuation is unknown
_MAX_PREFIXES = 256


def prefixes(pattern: str, k: int = 2) -> set[str] | None:
    """Lower-cased strings (up to `k` characters) a match of `pattern` can start with; None if unknown."""
    found = _walk(P.parse(pattern, re.IGNORECASE), {""}, k)
    if found is None:
        return None
    out = {p.rstrip(_STOP) for p in found}
    return None if "" in out else out


def _done(p: str, k: int) -> bool:
    return len(p) >= k or p.endswith(_STOP)


def _walk(items, current: set[str] | None, k: int) -> set[str] | None:
    for op, av in items:
        if current is None or all(_done(p, k) for p in current):
            return current
        if op is C.LITERAL:
            current = {p if _done(p, k) else p + chr(av).lower() for p in current}
        elif op is C.IN:
            chars = _charset(av)
            current = {p if _done(p, k) else p + (c if chars is not None else _STOP)
                       for p in current for c in (chars or {""})}
        elif op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        elif op is C.SUBPATTERN:
            current = _walk(av[-1], current, k)
        elif op is C.BRANCH:
            subs = [_walk(b, current, k) for b in av[1]]
            current = None if any(x is None for x in subs) else set().union(*subs)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            once = _walk(av[2], current, k)
            if once is not None and av[1] != 1:
                once = {p if _done(p, k) else p + _STOP for p in once}
            current = None if once is None else (once | current if av[0] == 0 else once)
        else:
            current = {p if _done(p, k) else p + _STOP for p in current}
        if current is not None and len(current) > _MAX_PREFIXES:
            return None
    return current


def _charset(av) -> set[str] | None:
    chars: set[str] = set()
    for op, val in av:
        if op is C.LITERAL:
            chars.add(chr(val).lower())
        elif op is C.RANGE and val[1] - val[0] < 64:
            chars.update(chr(c).lower() for c in range(val[0], val[1] + 1))
        else:
            return None
    return chars


class CueScanner:
    """Finds, for a table {category: [patterns]}, every (category, start, end) cue in a text."""

    def __init__(self, table: Mapping[str, list[str]]) -> None:
        by_key: dict[str, dict[str, list[str]]] = {}
        misc: dict[str, list[str]] = {}
        for category, patterns in table.items():
            for p in patterns:
                keys = next((k for k in (prefixes(p, n) for n in (4, 3, 2, 1)) if k), None)
                if keys is None or not all(k[:1].isalpha() for k in keys):
                    misc.setdefault(category, []).append(p)
                    continue
                for key in keys:
                    by_key.setdefault(key, {}).setdefault(category, []).append(p)
        self._buckets = {key: _bucket(cats) for key, cats in by_key.items()}
        # Keys shorter than three characters (few): only positions starting with one need a third lookup.
        self._short = frozenset(k[:2] for k in self._buckets if len(k) < 3)
        # For each key, the buckets of the key and of its shorter prefixes (one lookup per candidate).
        self._chains = {key: [self._buckets[key[:n]] for n in range(len(key), 0, -1) if key[:n] in self._buckets]
                        for key in self._buckets}
        # The few patterns starting with a digit or symbol ("-£3.20"): plain scans, run only when "£"/"%" occur.
        self._misc = [(cat, re.compile("(?:" + "|".join(ps) + ")" + _END, re.IGNORECASE))
                      for cat, ps in misc.items()]

    def scan(self, text: str, starts: Sequence[int] | None = None) -> list[tuple[str, int, int]]:
        """All cues in `text`, as (category, start, end); `starts` are word starts if already known."""
        out: list[tuple[str, int, int]] = []
        chains = self._chains
        low = text.lower()
        if len(low) != len(text):  # a few characters change length when lower-cased; keep offsets exact
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        if starts is None:
            starts = [m.start() for m in _WORD_START.finditer(text)]
        short = self._short
        for p in starts:
            chain = chains.get(low[p:p + 4]) or chains.get(low[p:p + 3])
            if chain is None:
                if low[p:p + 2] not in short and low[p] not in short:
                    continue
                chain = chains.get(low[p:p + 2]) or chains.get(low[p])
                if chain is None:
                    continue
            for rx, groups in chain:
                m = rx.match(text, p)
                if m.lastindex is None:
                    continue
                for name, cat in groups:
                    s = m.start(name)
                    if s >= 0:
                        out.append((cat, s, m.end(name)))
        if "£" in text or "%" in text:
            for cat, rx in self._misc:
                out.extend((cat, m.start(), m.end()) for m in rx.finditer(text))
        return out


def _bucket(cats: Mapping[str, list[str]]) -> tuple[re.Pattern[str], list[tuple[str, str]]]:
    parts, groups = [], []
    for i, (cat, patterns) in enumerate(cats.items()):
        name = f"g{i}"
        groups.append((name, cat))
        parts.append(f"(?:(?=(?P<{name}>(?:" + "|".join(f"(?:{p})" for p in patterns) + f"){_END}))|)")
    return re.compile("".join(parts), re.IGNORECASE), groups
