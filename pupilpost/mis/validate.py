"""Roster validation, the same on the school's side (extractor) and the server's (ingest).

Pure: no I/O, no clock (ages are judged at `now`, else at the roster's
`generated_at`). All-or-nothing: any problem and `Validated.roster` is None.
A `Problem` names the record, its row, the field and a reason; it never quotes a
value, so reports and logs stay free of personal data.
"""
from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from pupilpost.mis.normalise import FieldError, normalise_email, normalise_mobile
from pupilpost.mis.roster import PART_OF, ContactRecord, Part, PupilRecord, Roster, StaffRecord

__all__ = ["Counts", "FieldError", "Problem", "Validated", "check_schema", "is_opt_out", "normalise_email",
           "normalise_mobile", "normalise_year_group", "validate"]

RecordKind = Literal["pupil", "contact", "staff", "roster"]
OPT_OUT_PRIORITY = 9
YEAR_GROUPS = frozenset({"N1", "N2", "R", "X", *(str(n) for n in range(1, 15))})
MIN_AGE, MAX_AGE = 2, 25
_LISTS: dict[str, tuple[RecordKind, type[BaseModel]]] = {
    "pupils": ("pupil", PupilRecord), "contacts": ("contact", ContactRecord), "staff": ("staff", StaffRecord)}
_YEAR_ALIASES = {"RECEPTION": "R", "YR": "R", "NURSERY1": "N1", "NURSERY2": "N2"}


@dataclass(frozen=True)
class Problem:
    """One reason a file is refused: which record, row and field, and why; never the value."""

    record: RecordKind
    row: int | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = self.record if self.row is None else f"{self.record} row {self.row}"
        return ": ".join(x for x in (where, self.field, self.reason) if x)


class Counts(TypedDict):
    """How many records a roster holds (after opt-outs are dropped), and how many were opted out."""

    pupils: int
    contacts: int
    staff: int
    excluded_opt_out: int


@dataclass(frozen=True)
class Validated:
    """The outcome: the normalised roster (only when there are no problems), the problems, the counts."""

    roster: Roster | None
    problems: list[Problem]
    counts: Counts

    @property
    def ok(self) -> bool:
        """True when the roster may be imported."""
        return self.roster is not None


Rows = list[tuple[int, Any]]  # (row, record): row is source_row, else the 1-based position in its list


def validate(data: bytes | Mapping[str, Any] | Roster, *, expected_urn: str,
             now: datetime | None = None) -> Validated:
    """Check a roster (JSON bytes, dict or Roster) for `expected_urn`; normalise it if nothing is wrong."""
    raw, problems = _load(data)
    if raw is None:
        return Validated(None, problems, _counts(0, 0, 0, 0))
    head, problems = _head(raw)
    rows: dict[str, Rows] = {}
    dropped = 0
    for key in _LISTS:
        rows[key], found, n = _records(raw, key)
        problems += found
        dropped += n
    counts = _counts(len(rows["pupils"]), len(rows["contacts"]), len(rows["staff"]),
                     dropped + (head.excluded_opt_out if head else 0))
    problems += _total(raw)
    moment = now or (head.generated_at if head else None)
    pupils, contacts, staff, found = _rules(rows, head, expected_urn, moment)
    problems += found
    covers = _covers(head, raw)
    problems += _uncovered(covers, raw)
    if problems or head is None:
        return Validated(None, _unique(problems), counts)
    roster = head.model_copy(update={"pupils": pupils, "contacts": contacts, "staff": staff,
                                     "excluded_opt_out": counts["excluded_opt_out"], "covers": covers})
    return Validated(roster, [], counts)


def check_schema(raw: Mapping[str, Any]) -> list[Problem]:
    """Only the schema problems of a roster-shaped dict (what a parser reports when its output does not fit)."""
    problems = _head(raw)[1]
    for key in _LISTS:
        problems += _records(raw, key)[1]
    return _unique(problems)


def is_opt_out(priority: object) -> bool:
    """True when a contact priority means "opted out" (9), whatever its type."""
    if isinstance(priority, bool):
        return False
    if isinstance(priority, int | float):
        return priority == OPT_OUT_PRIORITY
    if not isinstance(priority, str):
        return False
    try:  # generous on purpose: wrongly dropping a contact is safer than writing to one who opted out
        return float(priority.strip()) == OPT_OUT_PRIORITY
    except ValueError:
        return False


def normalise_year_group(value: str) -> str | None:
    """The NC year (N1, N2, R, 1-14, X) from forms such as "Year 7", "Y07", "07", "Reception"; else None."""
    text = "".join(value.upper().split())
    text = _YEAR_ALIASES.get(text, text)
    for prefix in ("YEAR", "Y"):
        rest = text.removeprefix(prefix)
        if rest != text and rest.isascii() and rest.isdigit():
            text = rest
            break
    if text.isascii() and text.isdigit():
        text = str(int(text))
    return text if text in YEAR_GROUPS else None


def age_on(born: date, today: date) -> int:
    """Whole years from `born` to `today`."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


# -- loading and schema ---------------------------------------------------------------------------

def _load(data: object) -> tuple[dict[str, Any] | None, list[Problem]]:
    if isinstance(data, Roster):
        return data.model_dump(), []
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = json.loads(bytes(data))
        except (ValueError, RecursionError):
            return None, [Problem("roster", None, None, "the payload is not valid JSON")]
    if not isinstance(data, Mapping):
        return None, [Problem("roster", None, None, "the payload is not a roster object")]
    return dict(data), []


def _head(raw: Mapping[str, Any]) -> tuple[Roster | None, list[Problem]]:
    head = {k: v for k, v in raw.items() if k not in _LISTS}
    try:
        return Roster.model_validate(head), []
    except ValidationError as exc:
        return None, _schema_problems(exc, "roster", None, Roster)


def _records(raw: Mapping[str, Any], key: str) -> tuple[Rows, list[Problem], int]:
    """The list's records that fit the schema, the problems of those that do not, and opt-outs dropped."""
    kind, model = _LISTS[key]
    items = raw.get(key, ())
    if not isinstance(items, list | tuple):
        return [], [Problem("roster", None, key, "must be a list")], 0
    rows: Rows = []
    problems: list[Problem] = []
    dropped = 0
    for position, item in enumerate(items, 1):
        if key == "contacts" and isinstance(item, Mapping) and is_opt_out(item.get("priority")):
            dropped += 1  # opted out: never imported, so never judged
            continue
        row = _row_of(item, position)
        try:
            record = model.model_validate(item)
        except ValidationError as exc:
            rows.append((row, item))  # kept raw, so other rules can still name it
            problems += _schema_problems(exc, kind, row, model)
            continue
        if isinstance(record, ContactRecord) and record.priority == OPT_OUT_PRIORITY:
            dropped += 1  # a priority written in a form is_opt_out did not recognise, e.g. 9.0
        else:
            rows.append((row, record))
    return rows, problems, dropped


def _row_of(item: object, position: int) -> int:
    row = item.get("source_row") if isinstance(item, Mapping) else None
    return row if isinstance(row, int) and not isinstance(row, bool) and row >= 0 else position


def _schema_problems(exc: ValidationError, kind: RecordKind, row: int | None,
                     model: type[BaseModel]) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False, include_context=True):
        loc = err["loc"]
        name = loc[0] if loc and isinstance(loc[0], str) and loc[0] in model.model_fields else None
        if loc and name is None:  # a key the schema does not know: never echo it, it is input
            problems.append(Problem(kind, row, None, "has a field that is not recognised"))
        else:
            problems.append(Problem(kind, row, name, _reason(err, name)))
    return problems


def _reason(err: ErrorDetails, name: str | None) -> str:
    """A reason from the error's type and the schema's limits; never from the input."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "string_too_long":
        return f"is too long (at most {int(ctx.get('max_length', 0))} characters)"
    if kind in ("greater_than_equal", "less_than_equal"):
        return "is out of range" if name != "priority" else "must be a whole number from 1 to 9"
    if kind == "literal_error" and name == "gender":
        return "must be M, F, U or X"
    if kind == "string_pattern_mismatch" and name == "school_urn":
        return "must be a 6-digit URN"
    for prefixes, reason in _REASONS:
        if kind.startswith(prefixes):
            return reason
    return "is not valid"


_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("missing",), "is required"),
    (("string_too_short",), "must not be empty"),
    (("int_",), "must be a whole number"),
    (("bool_",), "must be true or false (Y/N)"),
    (("date_",), "must be a date (YYYY-MM-DD)"),
    (("datetime_", "timezone_"), "must be a date and time with a time zone"),
    (("literal_error",), "is not one of the allowed values"),
    (("string_",), "must be text"),
    (("model_", "dict_"), "must be an object"),
    (("tuple_", "list_"), "must be a list"),
)


def _covers(head: Roster | None, raw: Mapping[str, Any]) -> tuple[Part, ...]:
    """The parts the export holds in full: as it says, else (an older extractor) those with records."""
    if head is not None and head.covers is not None:
        return tuple(dict.fromkeys(head.covers))
    return tuple(part for part in ("pupils", "staff") if _has_records(raw, part))  # type: ignore[misc]


def _has_records(raw: Mapping[str, Any], key: str) -> bool:
    items = raw.get(key, ())
    return isinstance(items, list | tuple) and len(items) > 0


def _uncovered(covers: tuple[Part, ...], raw: Mapping[str, Any]) -> list[Problem]:
    """Records of a part the export says it does not hold in full (which could not be diffed)."""
    return [Problem("roster", None, key, f"the export does not say it covers {part}, yet holds {key}")
            for key, part in PART_OF.items() if part not in covers and _has_records(raw, key)]


def _total(raw: Mapping[str, Any]) -> list[Problem]:
    sizes = [len(v) for k in ("pupils", "staff") if isinstance(v := raw.get(k, ()), list | tuple)]
    if sum(sizes) == 0:
        return [Problem("roster", None, None, "the file has no records")]
    return []


# -- the domain rules -----------------------------------------------------------------------------

def _rules(rows: dict[str, Rows], head: Roster | None, expected_urn: str, now: datetime | None
           ) -> tuple[tuple[PupilRecord, ...], tuple[ContactRecord, ...], tuple[StaffRecord, ...], list[Problem]]:
    """The domain rules, on the records that fit the schema; those records normalised."""
    problems: list[Problem] = []
    if head is not None and head.school_urn != expected_urn:
        problems.append(Problem("roster", None, "school_urn", "the file belongs to another school"))
    valid = {key: [(row, rec) for row, rec in rows[key] if isinstance(rec, BaseModel)] for key in _LISTS}
    pupils, found = _pupils(valid["pupils"], now.date() if now else None)
    contacts, found_c = _people(valid["contacts"], "contact")
    staff, found_s = _people(valid["staff"], "staff")
    problems += found + found_c + found_s
    problems += _duplicates("pupil", ((r, p.ref) for r, p in valid["pupils"]), "ref",
                            "the pupil reference (UPN or admission number) appears twice")
    problems += _duplicates("contact", ((r, (c.pupil_ref, c.ref)) for r, c in valid["contacts"]), "ref",
                            "the pupil has two contacts with this reference (contact id, else priority)")
    problems += _duplicates("staff", ((r, s.ref) for r, s in valid["staff"]), "ref",
                            "the staff reference appears twice")
    problems += _orphans(valid["contacts"], {_ref(p) for _, p in rows["pupils"]})
    problems += _duplicates("contact", ((r, c.pupil_ref) for r, c in valid["contacts"] if c.priority == 1),
                            "priority", "two contacts with priority 1", note_first=False)
    return tuple(pupils), tuple(contacts), tuple(staff), problems


def _pupils(rows: Rows, today: date | None) -> tuple[list[PupilRecord], list[Problem]]:
    out, problems = [], []
    for row, pupil in rows:
        year = normalise_year_group(pupil.year_group)
        if year is None:
            problems.append(Problem("pupil", row, "year_group", "is not an NC year (N1, N2, R, 1-14 or X)"))
        if today is not None and pupil.date_of_birth > today:
            problems.append(Problem("pupil", row, "date_of_birth", "is in the future"))
        elif today is not None and not MIN_AGE <= age_on(pupil.date_of_birth, today) <= MAX_AGE:
            problems.append(Problem("pupil", row, "date_of_birth",
                                    f"gives an age outside {MIN_AGE} to {MAX_AGE} years"))
        out.append(pupil if year in (None, pupil.year_group) else pupil.model_copy(update={"year_group": year}))
    return out, problems


def _people(rows: Rows, kind: RecordKind) -> tuple[list[Any], list[Problem]]:
    """Contacts or staff with email and mobile normalised."""
    out, problems = [], []
    seen: dict[tuple[str, str], str | FieldError] = {}  # parents shared by siblings: check each value once
    for row, person in rows:
        update = {}
        for name, normalise in (("email", normalise_email), ("mobile", normalise_mobile)):
            value = getattr(person, name)
            if value is None:
                continue
            if (name, value) not in seen:
                try:
                    seen[(name, value)] = normalise(value)
                except FieldError as exc:
                    seen[(name, value)] = exc
            result = seen[(name, value)]
            if isinstance(result, FieldError):
                problems.append(Problem(kind, row, name, str(result)))
            elif result != value:
                update[name] = result
        out.append(person.model_copy(update=update) if update else person)  # a copy only where a value changed
    return out, problems


def _duplicates(kind: RecordKind, keyed: Iterable[tuple[int, Hashable]], field: str, reason: str,
                note_first: bool = True) -> list[Problem]:
    first: dict[Hashable, int] = {}
    problems = []
    for row, key in keyed:
        if key in first:
            note = f" (first on row {first[key]})" if note_first else ""
            problems.append(Problem(kind, row, field, reason + note))
        else:
            first[key] = row
    return problems


def _ref(pupil: object) -> object:
    """A pupil's ref, also from a raw record that failed the schema (so its contacts are not called orphans)."""
    ref = pupil.get("ref") if isinstance(pupil, Mapping) else getattr(pupil, "ref", None)
    return ref.strip() if isinstance(ref, str) else ref


def _orphans(contacts: Rows, pupil_refs: set[str]) -> list[Problem]:
    return [Problem("contact", row, "pupil_ref", "matches no pupil in the file")
            for row, contact in contacts if contact.pupil_ref not in pupil_refs]


def _counts(pupils: int, contacts: int, staff: int, excluded: int) -> Counts:
    return Counts(pupils=pupils, contacts=contacts, staff=staff, excluded_opt_out=excluded)


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
