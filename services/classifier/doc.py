"""One message prepared for the detectors: combined text, word tokens, sentences, greeting and sign-off zones."""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple

# A word: letters with inner apostrophes or hyphens (O'Brien, Clarke-Reid), then an optional possessive.
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*['’]?")
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
# Lower-case words a sign-off may contain ("Riverside Infants office", "Year 2 TA", "PE team").
_SIGNOFF_LOWER = frozenset(
    "office team and of the for on behalf from class school year dept department ta lead head teacher manager "
    "officer admin reception staff x thx thanks service services co ordinator coordinator deputy assistant "
    "primary academy infants juniors high college tutor form leader support".split())


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


def tokenize(text: str, offset: int = 0, sentence_starts: list[int] | None = None) -> list[Token]:
    """Split `text` into word tokens with offsets (shifted by `offset`)."""
    tokens: list[Token] = []
    append, new = tokens.append, tuple.__new__  # tuple.__new__ skips the named tuple's slow Python __new__
    starts = sentence_starts or [0]
    last_sent, sent = len(starts) - 1, 0
    for m in _WORD.finditer(text):
        word = m.group()
        start = m.start() + offset
        while sent < last_sent and starts[sent + 1] <= start:
            sent += 1
        poss = False
        if len(word) > 2:
            if word[-1] in "'’":
                word, poss = word[:-1], True
            elif word[-1] == "s" and word[-2] in "'’":
                word, poss = word[:-2], True
        norm = word.lower() if word.isascii() else normalise(word)
        append(new(Token, (start, start + len(word), word, norm, poss, word[0].isupper(), sent)))
    return tokens


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
    sentence_words: list[set[str]] = field(default_factory=list)
    capitalised: list[int] = field(default_factory=list)   # indices of tokens starting with a capital

    @classmethod
    def build(cls, subject: str, text: str) -> Doc:
        doc = cls(subject, text, subject + "\n" + text, len(subject) + 1)
        doc.sentences = _sentences(doc.combined, doc.text_start)
        doc.sentence_starts = starts = [s for s, _ in doc.sentences]
        doc.tokens = tokenize(doc.combined, 0, starts)
        doc.sentence_words = [set() for _ in starts]
        for i, t in enumerate(doc.tokens):
            doc.sentence_words[t.sent].add(t.norm)
            if t.cap:
                doc.capitalised.append(i)
        doc.greeting = _greeting(doc)
        doc.signoff = _signoff(doc)
        return doc

    def part(self, start: int) -> str:
        """Which input a combined-string offset falls in."""
        return "subject" if start < self.text_start else "text"

    def sentence_of(self, pos: int) -> int:
        """Index of the sentence holding combined offset `pos`."""
        return max(0, bisect_right(self.sentence_starts, pos) - 1)

    def in_greeting(self, pos: int) -> bool:
        return self.greeting is not None and self.greeting[0] <= pos < self.greeting[1]

    def in_signoff(self, pos: int) -> bool:
        return self.signoff is not None and self.signoff[0] <= pos < self.signoff[1]

    def sentence_text(self, index: int) -> str:
        s, e = self.sentences[index]
        return self.combined[s:e]


def _sentences(combined: str, text_start: int) -> list[tuple[int, int]]:
    """Sentence spans: the subject is one; the text splits at . ! ? and line breaks."""
    spans = [(0, text_start - 1)] if text_start > 1 else [(0, 0)]
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
    tail_limit = max(0, len(text) - 90)
    for m in _CLOSING.finditer(text, tail_limit):
        rest = text[m.end():]
        if _signoff_like(rest, allow_empty=True):
            return base + m.start(), base + len(text)
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
