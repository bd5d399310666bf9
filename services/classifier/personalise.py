"""Personalised messages: one rendering per pupil, each classified, folded into one decision.

A personalised message is a template (pupilpost/render.py). Every family gets its own
rendering, so every rendering is classified against the school's roster with its pupil as
the recipient: a rendering that names another family's child is caught even though the
template alone names no one in particular. Evidence is mapped back onto the template's own
offsets, so it points at what the school wrote and is the same for every family.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple
from uuid import UUID

from pupilpost.render import UnknownField, placeholders
from schemas.messages import Audience
from services.classifier.classify import classify
from services.classifier.model import PII_ORDER, Classification, Evidence, Level
from services.classifier.roster import Roster


@dataclass(frozen=True, slots=True)
class Pupil:
    """One pupil of the roster projection; `fields` are the merge values (personal: never in a repr)."""

    pupil_id: UUID
    year_group: str
    reg_group: str | None
    fields: Mapping[str, str] = field(repr=False)

    @property
    def name(self) -> str:
        """The name the school uses for the pupil (what {{full_name}} renders)."""
        return self.fields["full_name"]


class Span(NamedTuple):
    """Where one placeholder's value sits in the rendering, and the placeholder in the template."""

    r_start: int
    r_end: int
    t_start: int
    t_end: int


def audience_pupils(pupils: Iterable[Pupil], audience: Audience) -> list[Pupil]:
    """The pupils an audience reaches, in a stable order."""
    years, regs, ids = set(audience.year_groups), set(audience.reg_groups), set(audience.pupil_ids)
    return sorted((p for p in pupils if audience.whole_school or p.year_group in years
                   or (p.reg_group is not None and p.reg_group in regs) or p.pupil_id in ids),
                  key=lambda p: p.pupil_id)


def render_mapped(template: str, values: Mapping[str, str], base: tuple[int, int] = (0, 0)) -> tuple[str, list[Span]]:
    """The rendering and where each placeholder went (offsets shifted by `base`: rendered, template)."""
    out, spans, pos, at = [], [], 0, 0
    for start, end, name in placeholders(template):
        if name not in values:
            raise UnknownField(f"unknown merge field at character {start}")
        out.append(template[pos:start])
        at += start - pos
        value = values[name]
        spans.append(Span(base[0] + at, base[0] + at + len(value), base[1] + start, base[1] + end))
        out.append(value)
        at, pos = at + len(value), end
    out.append(template[pos:])
    return "".join(out), spans


def to_template(offset: int, spans: Sequence[Span], *, end: bool = False) -> int:
    """A rendering offset as a template offset; inside a placeholder's value it widens to the placeholder."""
    delta = 0
    for s in spans:
        if offset < s.r_start or (end and offset == s.r_start):
            break
        if offset < s.r_end or (end and offset == s.r_end):
            return s.t_end if end else s.t_start
        delta = s.t_end - s.r_end
    return offset + delta


def on_template(result: Classification, spans: Sequence[Span]) -> Classification:
    """The same classification with its evidence moved onto template offsets."""
    evidence = tuple(Evidence(e.kind, e.label, to_template(e.start, spans), to_template(e.end, spans, end=True),
                              e.part) for e in result.evidence)
    return replace(result, evidence=evidence)


def classify_renderings(subject: str, body: str, pupils: Sequence[Pupil], roster: Roster) -> Classification:
    """Render the message for each pupil, classify each rendering against the roster, fold the results."""
    if not pupils:
        raise ValueError("a personalised message needs at least one pupil to render for")
    seen: dict[tuple[str, str, str], Classification] = {}
    for pupil in pupils:
        rs, subject_spans = render_mapped(subject, pupil.fields)
        rb, body_spans = render_mapped(body, pupil.fields, (len(rs) + 1, len(subject) + 1))
        key = (rs, rb, pupil.name)
        if key not in seen:  # identical renderings to the same name need one look
            result = classify(rs, rb, recipient_pupil=pupil.name, roster=roster)
            seen[key] = on_template(result, subject_spans + body_spans)
    return aggregate(list(seen.values()))


def aggregate(results: Sequence[Classification]) -> Classification:
    """One decision for all renderings: the highest level, every category and PII kind, any
    personal content, whether any rendering names another pupil, and all their evidence
    (on template offsets, so it de-duplicates across renderings)."""
    if not results:
        raise ValueError("nothing to aggregate")
    pii = {k for r in results for k in r.pii}
    flags = [r.other_pupil_named for r in results if r.other_pupil_named is not None]
    evidence = sorted({e for r in results for e in r.evidence}, key=lambda e: (e.start, e.end, e.kind, e.label))
    return Classification(
        level=max((r.level for r in results), key=lambda lv: Level(lv).rank),
        categories=frozenset(c for r in results for c in r.categories),
        personal=any(r.personal for r in results),
        pii=tuple(k for k in PII_ORDER if k in pii),
        other_pupil_named=any(flags) if flags else None,
        evidence=tuple(evidence),
    )
