"""Per-family personalisation: merge fields in a message's subject and body.

A personalised message is a template with `{{field}}` placeholders, filled per
family from the pupil's directory record. The classifier checks every rendering
(so a rendering that names another family's child is caught) and dispatch
renders the same way at hand-off, so what is checked is what is sent.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FIELDS = ("forename", "surname", "full_name", "year_group", "reg_group")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class UnknownField(ValueError):
    """A template names a merge field that does not exist."""


def fields_in(template: str) -> list[str]:
    """The merge fields a template uses, in order of first use."""
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(template):
        if name not in seen:
            seen.append(name)
    return seen


def placeholders(template: str) -> list[tuple[int, int, str]]:
    """Each placeholder in a template: its span and the field it names, in order."""
    return [(m.start(), m.end(), m.group(1)) for m in _PLACEHOLDER.finditer(template)]


def check(template: str) -> None:
    """Raise UnknownField naming the first placeholder that is not a merge field."""
    for name in fields_in(template):
        if name not in FIELDS:
            raise UnknownField(f"unknown merge field {{{{{name}}}}}; use one of {', '.join(FIELDS)}")


def merge_fields(pupil: Mapping[str, Any]) -> dict[str, str]:
    """The merge values of one pupil (a decrypted directory.pupil body): preferred names first."""
    forename = pupil.get("preferred_forename") or pupil.get("legal_forename") or ""
    surname = pupil.get("preferred_surname") or pupil.get("legal_surname") or ""
    return {"forename": forename, "surname": surname, "full_name": f"{forename} {surname}".strip(),
            "year_group": str(pupil.get("year_group") or ""), "reg_group": str(pupil.get("reg_group") or "")}


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each placeholder replaced; unknown names raise UnknownField."""
    def fill(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise UnknownField(f"unknown merge field {{{{{m.group(1)}}}}}")
        return values[m.group(1)]
    return _PLACEHOLDER.sub(fill, template)
