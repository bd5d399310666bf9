"""Merge fields: rendering is the identity without placeholders, fills every known field, refuses unknown ones."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pupilpost.render import FIELDS, UnknownField, check, fields_in, merge_fields, placeholders, render

SETTINGS = settings(max_examples=200, deadline=None)
# Free text that cannot contain a placeholder (no braces at all, or single braces only).
plain = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=200)
value = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=30)
values = st.fixed_dictionaries({f: value for f in FIELDS})
field_name = st.sampled_from(FIELDS)
unknown = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True).filter(lambda n: n not in FIELDS)


@SETTINGS
@given(plain, values)
def test_a_template_without_placeholders_renders_as_itself(text, vals):
    assert render(text, vals) == text
    assert fields_in(text) == [] and placeholders(text) == []
    check(text)


@SETTINGS
@given(st.lists(st.tuples(plain, field_name), min_size=1, max_size=6), plain, values)
def test_every_known_field_is_replaced_by_its_value(parts, tail, vals):
    template = "".join(f"{text}{{{{{name}}}}}" for text, name in parts) + tail
    rendered = render(template, vals)
    assert rendered == "".join(text + vals[name] for text, name in parts) + tail
    assert "{{" not in rendered
    check(template)
    assert fields_in(template) == list(dict.fromkeys(name for _, name in parts))


@SETTINGS
@given(plain, unknown, plain, values)
def test_an_unknown_field_raises(head, name, tail, vals):
    template = f"{head}{{{{{name}}}}}{tail}"
    with pytest.raises(UnknownField):
        render(template, vals)
    with pytest.raises(UnknownField):
        check(template)


def test_whitespace_inside_braces_is_allowed_and_spans_are_reported():
    assert render("Dear {{ forename }}!", {"forename": "Ruby"}) == "Dear Ruby!"
    assert placeholders("a {{ forename }} b {{x}}") == [(2, 16, "forename"), (19, 24, "x")]


def test_merge_fields_prefer_preferred_names():
    pupil = {"legal_forename": "Robert", "preferred_forename": "Bob", "legal_surname": "Hale",
             "year_group": "4", "reg_group": "4B"}
    assert merge_fields(pupil) == {"forename": "Bob", "surname": "Hale", "full_name": "Bob Hale",
                                   "year_group": "4", "reg_group": "4B"}
    assert merge_fields({"legal_forename": "Ava", "legal_surname": "Osei", "year_group": 7})["year_group"] == "7"
