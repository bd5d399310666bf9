"""What both MIS parsers return, the helpers they share, and the format dispatcher.

A parser never raises on the content of a file: anything wrong with it becomes a
`Problem` (record, row, field, reason; never a value). Only a file that cannot be
opened at all raises `OSError`, from the operating system.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from pupilpost.mis.roster import Roster
from pupilpost.mis.validate import Problem, check_schema, normalise_year_group

MAX_EXPORT_BYTES = 200 * 1024 * 1024  # a CTF for the largest secondary school is a few tens of MB
_TRUE = frozenset({"y", "yes", "true", "t", "1"})
_FALSE = frozenset({"n", "no", "false", "f", "0"})


@dataclass(frozen=True)
class ParseResult:
    """A parsed export: the unvalidated roster, what was wrong with the file, opted-out contacts left out.

    `roster` is a `Roster` when the records fit its schema, the raw roster-shaped dict
    when they do not (the schema problems are then in `problems`), and None when the
    file could not be read at all. Use it only when `problems` is empty; either way,
    `pupilpost.mis.validate.validate` decides what may be imported.
    """

    roster: Roster | dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    excluded_opt_out: int = 0

    @property
    def ok(self) -> bool:
        """True when the file was read without problems."""
        return self.roster is not None and not self.problems


def size_text(limit: int) -> str:
    """A size limit for a reason: "200 MB", or bytes below a megabyte."""
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit} bytes"


def failed(reason: str, *, field_name: str | None = None, row: int | None = None) -> ParseResult:
    """A result for a file that could not be read at all."""
    return ParseResult(None, [Problem("roster", row, field_name, reason)])


def finish(raw: dict[str, Any], problems: list[Problem], excluded: int) -> ParseResult:
    """Build the result: a `Roster` if the raw records fit the schema, else the dict plus schema problems."""
    raw = {**raw, "excluded_opt_out": excluded}
    try:
        roster: Roster | dict[str, Any] = Roster.model_validate(raw)
    except ValidationError:
        roster = raw
        problems = [*problems, *check_schema(raw)]
    return ParseResult(roster, problems, excluded)


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """The items whose value is not None or blank (a blank cell means "not given")."""
    return {k: v for k, v in values.items() if v is not None and v != ""}


def parse_flag(text: str | None) -> bool | str | None:
    """Y/N, yes/no, true/false, 1/0 (any case) as a bool; anything else is passed on for validation to refuse."""
    if text is None:
        return None
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return text


def parse_gender(text: str | None) -> str | None:
    """M/F/U/X in any case, and the words male/female/unknown; anything else is passed on for validation."""
    if text is None:
        return None
    upper = text.strip().upper()
    return {"MALE": "M", "FEMALE": "F", "UNKNOWN": "U"}.get(upper, upper)


def parse_year_group(text: str | None) -> str | None:
    """The NC year in its short form ("Year 7" -> "7") where it is one; anything else is passed on."""
    return (normalise_year_group(text) or text) if text else None


def read_export(path: Path, fmt: Literal["csv", "ctf"], *, school_urn: str | None,
                now: datetime) -> ParseResult:
    """Parse a school's MIS export in the given format (CSV, a zip of CSVs, or CTF XML)."""
    # Imported here: both parsers import this module for ParseResult.
    if fmt == "csv":
        from pupilpost.mis.csv_format import read_csv

        if school_urn is None:
            return failed("a CSV export carries no URN: give the school's URN", field_name="school_urn")
        return read_csv(path, school_urn=school_urn, now=now)
    if fmt == "ctf":
        from pupilpost.mis.ctf import read_ctf

        return read_ctf(path, school_urn=school_urn, now=now)
    raise ValueError("fmt must be 'csv' or 'ctf'")
