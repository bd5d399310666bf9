"""Personalised messages: each family's rendering is classified, and the results fold into one decision."""
from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pupilpost.render import FIELDS, render
from schemas.messages import Audience
from services.classifier.classify import Category, Classification, Evidence, Level, Roster
from services.classifier.personalise import (
    Pupil, aggregate, audience_pupils, classify_renderings, render_mapped, to_template,
)

NAMES = [("Ruby", "Wright", "4", "4A"), ("Oscar", "Bennett", "4", "4B"), ("Amara", "Osei", "5", "5A"),
         ("Theo", "Marsh", "5", None)]
PUPILS = [Pupil(UUID(int=i + 1), year, reg, {"forename": f, "surname": s, "full_name": f"{f} {s}",
                                            "year_group": year, "reg_group": reg or ""})
          for i, (f, s, year, reg) in enumerate(NAMES)]
ROSTER = Roster(p.name for p in PUPILS)


def result(level="public", categories=(), personal=False, pii=(), other=None, evidence=()):
    return Classification(Level(level), frozenset(Category(c) for c in categories), personal, tuple(pii), other,
                          tuple(evidence))


# ---- aggregate ------------------------------------------------------------------------------

def test_aggregate_takes_the_highest_level_and_unions_the_rest():
    a = result("official", personal=True, pii=("person_name",), other=False,
               evidence=[Evidence("pii", "person_name", 5, 9, "text")])
    b = result("official-sensitive", ["health"], True, ("phone", "person_name"), False,
               [Evidence("category", "health", 20, 30, "text"), Evidence("pii", "person_name", 5, 9, "text")])
    c = result("public", other=False)
    out = aggregate([a, b, c])
    assert out.level is Level.OFFICIAL_SENSITIVE
    assert out.categories == {Category.HEALTH} and out.personal is True
    assert out.pii == ("person_name", "phone")  # the guide's order
    assert out.other_pupil_named is False
    assert out.evidence == (Evidence("pii", "person_name", 5, 9, "text"), Evidence("category", "health", 20, 30, "text"))


def test_aggregate_flags_another_pupil_if_any_rendering_names_one_and_keeps_its_evidence():
    flagged = result("official", personal=True, other=True, evidence=[Evidence("other_pupil", "other_pupil", 12, 23,
                                                                               "text")])
    out = aggregate([result(other=False), flagged, result(other=False)])
    assert out.other_pupil_named is True
    assert Evidence("other_pupil", "other_pupil", 12, 23, "text") in out.evidence


def test_aggregate_of_unpersonalised_results_leaves_the_flag_unset_and_refuses_nothing():
    assert aggregate([result(), result("official", personal=True)]).other_pupil_named is None
    with pytest.raises(ValueError):
        aggregate([])


levels = st.sampled_from(list(Level))
results = st.builds(result, level=levels.map(str), categories=st.lists(st.sampled_from([str(c) for c in Category]),
                                                                      max_size=3),
                    personal=st.booleans(), other=st.sampled_from([None, False, True]))


@settings(max_examples=150, deadline=None)
@given(st.lists(results, min_size=1, max_size=8))
def test_aggregate_is_an_upper_bound_of_every_rendering(rs):
    out = aggregate(rs)
    assert all(out.level.rank >= r.level.rank for r in rs)
    assert out.level in {r.level for r in rs}
    assert all(r.categories <= out.categories for r in rs)
    assert out.other_pupil_named == (any(r.other_pupil_named for r in rs)
                                     if any(r.other_pupil_named is not None for r in rs) else None)
    assert aggregate(list(reversed(rs))) == out  # order of renderings does not matter


# ---- offsets back onto the template ---------------------------------------------------------

def test_render_mapped_matches_render_and_maps_offsets_back():
    template = "Hi {{forename}}, {{forename}} and Sam"
    vals = {"forename": "Ruby"}
    text, spans = render_mapped(template, vals)
    assert text == render(template, vals) == "Hi Ruby, Ruby and Sam"
    sam = text.index("Sam")
    assert (to_template(sam, spans), to_template(sam + 3, spans, end=True)) == (template.index("Sam"), len(template))
    assert (to_template(3, spans), to_template(7, spans, end=True)) == (3, 15)          # the whole placeholder
    assert (to_template(4, spans), to_template(6, spans, end=True)) == (3, 15)          # part of a value widens


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text("ab .", max_size=5), st.sampled_from(FIELDS)), max_size=4),
       st.text("ab .", max_size=5), st.fixed_dictionaries({f: st.text("xyz", max_size=6) for f in FIELDS}))
def test_literal_text_keeps_its_place_on_the_template(parts, tail, vals):
    template = "".join(f"{t}{{{{{f}}}}}" for t, f in parts) + tail
    text, spans = render_mapped(template, vals)
    t_pos = len(template) - len(tail)
    r_pos = len(text) - len(tail)
    for k in range(len(tail) + 1):  # every offset in the literal tail maps to the same literal in the template
        assert to_template(r_pos + k, spans) == t_pos + k
        if k:  # (an end right after an empty value may as well end before its placeholder)
            assert to_template(r_pos + k, spans, end=True) == t_pos + k


# ---- audience and renderings ----------------------------------------------------------------

def test_audience_pupils_by_group_and_id():
    ids = lambda ps: [p.name for p in ps]  # noqa: E731
    assert ids(audience_pupils(PUPILS, Audience(whole_school=True))) == [p.name for p in PUPILS]
    assert ids(audience_pupils(PUPILS, Audience(year_groups=("5",)))) == ["Amara Osei", "Theo Marsh"]
    assert ids(audience_pupils(PUPILS, Audience(reg_groups=("4B",), pupil_ids=(UUID(int=4),)))) == \
        ["Oscar Bennett", "Theo Marsh"]
    assert audience_pupils(PUPILS, Audience(year_groups=("9",))) == []


def test_a_rendering_naming_another_pupil_is_flagged_on_the_template():
    subject, body = "Reading", "{{forename}} and Oscar Bennett read beautifully in assembly today."
    out = classify_renderings(subject, body, PUPILS[:2], ROSTER)
    assert out.other_pupil_named is True
    start = len(subject) + 1 + body.index("Oscar")
    assert any(e.kind == "other_pupil" and (e.start, e.end) == (start, start + len("Oscar Bennett"))
               for e in out.evidence)


def test_a_benign_personalised_message_names_no_other_pupil():
    out = classify_renderings("Trip", "{{forename}} will need a packed lunch for the trip on Friday.", PUPILS, ROSTER)
    assert out.other_pupil_named is False and out.level is Level.OFFICIAL
    placeholder = len("Trip") + 1
    assert any((e.start, e.end) == (placeholder, placeholder + len("{{forename}}")) for e in out.evidence)


def test_sensitivity_that_appears_only_once_rendered_is_found():
    body = "We have been told that {{full_name}} has tonsillitis; we will hold the antibiotics in the office."
    assert classify_renderings("Medicine", body, PUPILS[:1], ROSTER).level is Level.OFFICIAL_SENSITIVE


def test_no_pupils_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError):
        classify_renderings("s", "{{forename}}", [], ROSTER)


def test_pupil_repr_shows_no_name():
    assert "Ruby" not in repr(PUPILS[0])
