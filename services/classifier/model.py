"""Value types of the sensitivity classifier: levels, categories, evidence and the result."""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal, NamedTuple


class Level(StrEnum):
    """Government Security Classification levels used for school messages, lowest first."""

    PUBLIC = "public"
    OFFICIAL = "official"
    OFFICIAL_SENSITIVE = "official-sensitive"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.PUBLIC: 0, Level.OFFICIAL: 1, Level.OFFICIAL_SENSITIVE: 2}


class Category(StrEnum):
    """Special-category and sensitive data kinds from the labelling guide."""

    HEALTH = "health"
    SEN = "sen"
    SAFEGUARDING = "safeguarding"
    CRIMINAL = "criminal"
    ETHNICITY = "ethnicity"
    RELIGION = "religion"
    SEXUAL_ORIENTATION = "sexual_orientation"
    BIOMETRIC = "biometric"
    GENETIC = "genetic"
    POLITICAL = "political"
    TRADE_UNION = "trade_union"
    FINANCIAL = "financial"
    LOOKED_AFTER = "looked_after"


# The guide's order of PII kinds; `Classification.pii` always follows it.
PII_ORDER: tuple[str, ...] = (
    "person_name", "date_of_birth", "email", "phone", "address", "upn", "nhs_number", "ni_number", "bank_account",
)

EvidenceKind = Literal["category", "pii", "personal", "other_pupil"]
Part = Literal["subject", "text"]


class Evidence(NamedTuple):
    """Why a label was given: a span of `subject + "\\n" + text` and the label it supports (immutable)."""

    kind: EvidenceKind
    label: str
    start: int
    end: int
    part: Part

    def as_dict(self, combined: str | None = None) -> dict[str, object]:
        """Plain JSON-ready form; with `combined`, also the matched text for a reviewer."""
        out: dict[str, object] = {"kind": self.kind, "label": self.label, "start": self.start,
                                  "end": self.end, "part": self.part}
        if combined is not None:
            out["match"] = combined[self.start:self.end]
        return out


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's decision about one message."""

    level: Level
    categories: frozenset[Category]
    personal: bool
    pii: tuple[str, ...]
    other_pupil_named: bool | None
    evidence: tuple[Evidence, ...]
    marked_up: bool = False

    def as_dict(self, combined: str | None = None) -> dict[str, object]:
        """Plain JSON-ready form (categories sorted, PII in the guide's order)."""
        return {
            "level": str(self.level),
            "categories": sorted(str(c) for c in self.categories),
            "pii": list(self.pii),
            "other_pupil_named": self.other_pupil_named,
            "personal": self.personal,
            "evidence": [e.as_dict(combined) for e in self.evidence],
        }


def decide_level(categories: frozenset[Category], personal: bool) -> Level:
    """The guide's invariants: sensitive iff categories and personal; public iff not personal."""
    if not personal:
        return Level.PUBLIC
    return Level.OFFICIAL_SENSITIVE if categories else Level.OFFICIAL


def mark_up(result: Classification, level: Level | str) -> Classification:
    """Raise the level to `level` if that is higher (a school may mark a message up, never down)."""
    wanted = Level(level)
    if wanted.rank <= result.level.rank:
        return result
    return replace(result, level=wanted, marked_up=True)
