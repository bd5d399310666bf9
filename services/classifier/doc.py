"""One message prepared for the detectors: combined text, word tokens, sentences, greeting and sign-off zones."""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import repeat
from typing import NamedTuple

# A word: letters with inner apostrophes or hyphens (O'Brien, Clarke-Reid), then an optional possessive.
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*['’]?")
_ASCII_WORD = re.compile(r"[A-Za-z]+(?:['’\-][A-Za-z]+)*['’]?")  # same tokens on ASCII text, faster
# Sentence ends: . ! ? (plus closing quotes/brackets) before whitespace, or a line break.
_SENT_END = re.compile(r"[.!?]+[\"'’”)\]]*(?=\s)|\n")
_WHO = r"(?:[A-Z0-9][\w'’./-]*|and|&|of|families|family|parents|carers|all|everyone)"
_GREETING = re.compile(
    r"\A\s*(?i:hi|hiya|hello|hey|dear|good (?:morning|afternoon|evening)|morning|afternoon)\b[ ,]*"
    rf"(?P<who>{_WHO}(?:\s+{_WHO}){{0,5}})\s*(?=[,\n!:;]|\Z)")
_CLOSING = re.compile(
    r"(?<![\w'’])"
    r"(?:kind(?:est)? regards|best wishes|warm(?:est)? regards|many thanks|with thanks|thanks again|thank you|"
    r"thankyou|thanks|thx|regards|yours sincerely|yours faithfully|best|cheers|love from|speak soon|"
    r"see you soon)\b[,.!]*",
    re.IGNORECASE)
_CLOSING_WORDS = frozenset(
    """kind kindest best warm warmest many with thanks thank thankyou thx regards
    yours cheers love speak see""".split())
# Lower-case words a sign-off may contain ("Riverside Infants office", "Year 2 TA", "PE team").
_SIGNOFF_LOWER = frozenset(
    """office team and of the for on behalf from class school year dept department ta lead head teacher
        manager officer admin reception staff x thx thanks service services co ordinator coordinator deputy
        assistant primary academy infants juniors high college tutor form leader support""".split())


class Token(NamedTuple):
    """A word of the combined text; `norm` is lower-case, accent-free, without a possessive."""

    start: int
    end: int          # end of the word without any possessive suffix
    raw: str          # text[start:end]
    norm: str
    possessive: bool
    cap: bool         # first letter upper-case
    sent: int         # index of the sentence holding it


def normalise(word: str) -> str:
    """Lower-case, strip accents and unify apostrophes, so "Zoë’s" and "zoe's" compare equal."""
    if word.isascii():
        return word.lower()
    folded = unicodedata.normalize("NFKD", word.replace("’", "'"))
    return "".join(c for c in folded if not unicodedata.combining(c)).lower()


def tokenize(text: str, offset: int = 0, sentences: list[tuple[int, int]] | None = None,
             heads: list[int] | None = None) -> list[Token]:
    """Split `text` into word tokens with offsets (shifted by `offset`) and sentence indexes.

    Built column by column with comprehensions and `map(tuple.__new__, ...)`: per-token Python
    statements were the single largest cost of classifying a message. `sentences` are spans of
    `text` (no word crosses one); without them the whole text is sentence 0. `heads`, if given,
    receives the index of each sentence's first token.
    """
    found: list[re.Match[str]] = []
    sents: list[int] = []
    word = _ASCII_WORD if text.isascii() else _WORD
    for idx, (s, e) in enumerate(sentences or [(0, len(text))]):
        before = len(found)
        found.extend(word.finditer(text, s, e))
        if len(found) > before:
            sents.extend([idx] * (len(found) - before))
            if heads is not None:
                heads.append(before)
    raws = [m.group() for m in found]
    starts = [m.start() + offset for m in found]
    poss = [False] * len(raws)
    if "'" in text or "’" in text:
        for k, w in enumerate(raws):
            if len(w) > 2 and (w[-1] in "'’" or (w[-1] == "s" and w[-2] in "'’")):
                raws[k], poss[k] = (w[:-1] if w[-1] != "s" else w[:-2]), True
    ends = [s + len(w) for s, w in zip(starts, raws)]
    norms = [w.lower() if w.isascii() else normalise(w) for w in raws]
    caps = [w[0].isupper() for w in raws]
    return list(map(tuple.__new__, repeat(Token), zip(starts, ends, raws, norms, poss, caps, sents)))


@dataclass(slots=True)
class Doc:
    """The combined string `subject + "\\n" + text` and its structure, built once per message."""

    subject: str
    text: str
    combined: str = ""
    text_start: int = 0
    sentences: list[tuple[int, int]] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)
    greeting: tuple[int, int] | None = None
    signoff: tuple[int, int] | None = None
    sentence_starts: list[int] = field(default_factory=list)
    _token_starts: list[int] | None = None
    capitalised: list[int] = field(default_factory=list)   # indices of tokens starting with a capital
    casual: bool = False   # texting style: most sentences of the text start in lower case

    @classmethod
    def build(cls, subject: str, text: str) -> Doc:
        doc = cls(subject, text, subject + "\n" + text, len(subject) + 1)
        doc.sentences = _sentences(doc.combined, doc.text_start)
        doc.sentence_starts = [s for s, _ in doc.sentences]
        heads: list[int] = []
        doc.tokens = tokens = tokenize(doc.combined, 0, doc.sentences, heads)
        doc.capitalised = [i for i, t in enumerate(tokens) if t.cap]
        firsts = [tokens[k].cap for k in heads if tokens[k].start >= doc.text_start]
        doc.casual = bool(firsts) and firsts.count(False) * 2 >= len(firsts)
        doc.greeting = _greeting(doc)
        doc.signoff = _signoff(doc)
        return doc

    def part(self, start: int) -> str:
        """Which input a combined-string offset falls in."""
        return "subject" if start < self.text_start else "text"

    def sentence_of(self, pos: int) -> int:
        """Index of the sentence holding combined offset `pos`."""
        return max(0, bisect_right(self.sentence_starts, pos) - 1)

    def tokens_in(self, start: int, end: int) -> list[Token]:
        """The tokens starting in [start, end)."""
        if self._token_starts is None:
            self._token_starts = [t.start for t in self.tokens]
        lo = bisect_left(self._token_starts, start)
        hi = bisect_left(self._token_starts, end, lo)
        return self.tokens[lo:hi]

    def in_greeting(self, pos: int) -> bool:
        return self.greeting is not None and self.greeting[0] <= pos < self.greeting[1]

    def in_signoff(self, pos: int) -> bool:
        return self.signoff is not None and self.signoff[0] <= pos < self.signoff[1]

    def sentence_text(self, index: int) -> str:
        s, e = self.sentences[index]
        return self.combined[s:e]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a plain text (splitting at . ! ? and line breaks)."""
    return _sentences(text, 0)[1:] or [(0, len(text))]


def _sentences(combined: str, text_start: int) -> list[tuple[int, int]]:
    """Sentence spans: the subject is one; the text splits at . ! ? and line breaks."""
    spans = [(0, max(0, text_start - 1))]
    pos = text_start
    for m in _SENT_END.finditer(combined, text_start):
        if m.end() > pos:
            spans.append((pos, m.end()))
        pos = m.end()
    if pos < len(combined):
        spans.append((pos, len(combined)))
    return spans


def _greeting(doc: Doc) -> tuple[int, int] | None:
    m = _GREETING.match(doc.text)
    if not m:
        return None
    return doc.text_start + m.start("who"), doc.text_start + m.end("who")


def _signoff(doc: Doc) -> tuple[int, int] | None:
    """The trailing sign-off: after a closing formula near the end, or a short name-like last fragment."""
    text, base = doc.text, doc.text_start
    tail = doc.text_start + max(0, len(text) - 90)
    closings = []
    for t in reversed(doc.tokens):
        if t.start < tail:
            break
        if t.norm in _CLOSING_WORDS:
            closings.append(t.start)
    for start in reversed(closings):  # the earliest closing whose remainder is a sign-off
        m = _CLOSING.match(doc.combined, start)
        if m and _signoff_like(doc.combined[m.end():], allow_empty=True):
            return start, len(doc.combined)
    cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "), text.rfind(".\n"), text.rfind("!\n"),
              text.rfind("?\n"), text.rfind(")\n"))
    if cut >= 0 and _signoff_like(text[cut + 1:], allow_empty=False):
        return base + cut + 1, base + len(text)
    return None


def _signoff_like(fragment: str, *, allow_empty: bool) -> bool:
    words = [m.group() for m in _WORD.finditer(fragment)]
    if not words:
        return allow_empty
    if len(words) > 8 or re.search(r"[.!?]\s+\S", fragment.strip()):
        return False
    return all(w[:1].isupper() or normalise(w) in _SIGNOFF_LOWER for w in words)
