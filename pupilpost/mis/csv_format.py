"""Read a school's MIS export as CSV: a pupils file, a staff file, or a .zip holding both.

Files are UTF-8 (a BOM is fine), comma-separated, with a header on line 1;
CRLF or LF line ends. Header names are matched ignoring case, surrounding
spaces, and spaces or hyphens for underscores ("Contact Email" is
contact_email). Which file is which is told by its header (staff_id makes a
staff file). Columns not listed here are never read (data minimisation).
Required columns must be present (their cells may be blank where the field is
optional); see docs/mis-csv.md for the full description.

Pupils file, one row per pupil-contact pair; the pupil columns repeat on each
of the pupil's rows; a pupil with no contacts has one row with blank contact
columns:
  upn, admission_number   at least one of the two columns; the pupil's ref is
                          the UPN if given, else the admission number
  legal_forename*, legal_surname*, preferred_forename, preferred_surname
  gender*                 M, F, U or X (or male/female/unknown)
  date_of_birth*          YYYY-MM-DD or DD/MM/YYYY
  year_group*             N1, N2, R, 1-14, X ("Year 7", "Y7" and "07" are read as 7)
  reg_group
  contact_id              the MIS's contact id; the contact's ref. Without it,
                          the ref is the contact's priority, else its order
                          among the pupil's rows
  contact_title, contact_forename, contact_surname*, relationship*
  parental_responsibility* Y/N, yes/no, true/false, 1/0
  contact_priority*       1-9; 9 means opted out: never read further, only counted
  contact_email*, contact_mobile*   (the columns are required, cells may be blank)

Staff file: staff_id*, title, forename*, surname*, email*, mobile*, role*.

source_row is the record's line in its file (the header is line 1).
"""
from __future__ import annotations

import csv
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pupilpost.mis.parse import (
    MAX_EXPORT_BYTES, ParseResult, compact, failed, finish, parse_flag, parse_gender, parse_year_group, size_text,
)
from pupilpost.mis.validate import Problem, is_opt_out

Kind = Literal["pupils", "staff"]
PUPIL_COLUMNS = ("upn", "admission_number", "legal_forename", "legal_surname", "preferred_forename",
                 "preferred_surname", "gender", "date_of_birth", "year_group", "reg_group")
CONTACT_COLUMNS = ("contact_id", "contact_title", "contact_forename", "contact_surname", "relationship",
                   "parental_responsibility", "contact_priority", "contact_email", "contact_mobile")
STAFF_COLUMNS = ("staff_id", "title", "forename", "surname", "email", "mobile", "role")
REQUIRED: dict[Kind, tuple[str, ...]] = {
    "pupils": ("legal_forename", "legal_surname", "gender", "date_of_birth", "year_group", "contact_surname",
               "relationship", "parental_responsibility", "contact_priority", "contact_email", "contact_mobile"),
    "staff": ("staff_id", "forename", "surname", "email", "mobile", "role"),
}
KNOWN: dict[Kind, tuple[str, ...]] = {"pupils": PUPIL_COLUMNS + CONTACT_COLUMNS, "staff": STAFF_COLUMNS}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_DMY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError,
               RuntimeError, ValueError, OSError, struct.error, IndexError, KeyError, OverflowError)


@dataclass(frozen=True)
class Table:
    """One CSV file: its kind, where each known column is, and its data rows with their line numbers."""

    kind: Kind
    columns: dict[str, int]
    rows: list[tuple[int, list[str]]]


class _Refused(Exception):
    """A file or archive that cannot be read; the message is a reason without personal data."""


def read_csv(path: Path | bytes, *, school_urn: str, now: datetime,
             max_bytes: int = MAX_EXPORT_BYTES) -> ParseResult:
    """Parse a pupils CSV, a staff CSV, or a zip of both (a path, or the file's bytes) into a roster."""
    try:
        tables = [_table(blob) for blob in _blobs(path, max_bytes)]
        return _build(_by_kind(tables), school_urn, now)
    except _Refused as exc:
        return failed(str(exc))


def _blobs(path: Path | bytes, max_bytes: int) -> list[bytes]:
    """The CSV files' bytes: the file itself, or each member of a zip."""
    if isinstance(path, bytes):
        data = path
    else:
        if path.stat().st_size > max_bytes:
            raise _Refused(f"the file is larger than {size_text(max_bytes)}")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise _Refused(f"the file is larger than {size_text(max_bytes)}")
    is_zip = data.startswith(_ZIP_MAGIC) or (isinstance(path, Path) and path.suffix.lower() == ".zip")
    return _unzip(data, max_bytes) if is_zip else [data]


def _unzip(data: bytes, max_bytes: int) -> list[bytes]:
    """The members of a zip of at most two top-level .csv files, refusing anything that expands too far."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_members(infos, max_bytes)
            return _read_members(archive, infos, max_bytes)
    except _ZIP_ERRORS:
        raise _Refused("the zip archive is truncated or corrupt") from None


def _check_members(infos: list[zipfile.ZipInfo], max_bytes: int) -> None:
    # Member names are never echoed: a file name can itself be personal data.
    if not infos:
        raise _Refused("the zip archive is empty")
    if any(i.is_dir() or "/" in i.filename or "\\" in i.filename for i in infos):
        raise _Refused("the zip archive has folders or nested paths; put pupils.csv and staff.csv at its top")
    if any(not i.filename.lower().endswith(".csv") for i in infos):
        raise _Refused("the zip archive holds a file that is not .csv")
    if len(infos) > 2:
        raise _Refused("the zip archive holds more than two files (a pupils and a staff CSV)")
    if any(i.flag_bits & 0x1 for i in infos):
        raise _Refused("the zip archive is encrypted")
    if sum(i.file_size for i in infos) > max_bytes:
        raise _Refused(f"the zip archive expands to more than {size_text(max_bytes)}")


def _read_members(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], max_bytes: int) -> list[bytes]:
    """Read members in chunks, stopping at the limit whatever sizes the archive declares."""
    blobs, left = [], max_bytes
    for info in infos:
        chunks = []
        with archive.open(info) as member:
            while chunk := member.read(min(1 << 20, left + 1)):
                left -= len(chunk)
                if left < 0:
                    raise _Refused(f"the zip archive expands to more than {size_text(max_bytes)}")
                chunks.append(chunk)
        blobs.append(b"".join(chunks))
    return blobs


def _table(blob: bytes) -> Table:
    """Decode and split one CSV file, and tell from its header what it holds."""
    lines = _records(_decode(blob))
    first = next(lines, None)
    if first is None:
        raise _Refused("a CSV file is empty")
    names = [_column_name(cell) for cell in first[1]]
    kind = _kind(names)
    _check_header(kind, names)
    columns = {name: i for i, name in enumerate(names) if name in KNOWN[kind]}
    return Table(kind, columns, _data_rows(lines, len(names)))


def _decode(blob: bytes) -> str:
    if blob.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _Refused("a CSV file is UTF-16; save it as \"CSV UTF-8\"")
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = blob[:exc.start].count(b"\n") + 1
        raise _Refused(f"a CSV file is not UTF-8 text (line {line}); save it as \"CSV UTF-8\"") from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank CSV record; a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error:
        raise _Refused(f"a CSV file is malformed near line {reader.line_num}") from None


def _column_name(cell: str) -> str:
    return re.sub(r"[\s\-]+", "_", cell.strip().lower())


def _kind(names: list[str]) -> Kind:
    """Staff if the header has staff_id, else whichever kind's columns it has more of."""
    pupils, staff = (len(set(names) & set(KNOWN[kind])) for kind in ("pupils", "staff"))
    if "staff_id" in names or staff > pupils:
        return "staff"
    if pupils:
        return "pupils"
    raise _Refused("a CSV file's header has neither the pupils columns nor the staff columns (see docs/mis-csv.md)")


def _check_header(kind: Kind, names: list[str]) -> None:
    missing = [c for c in REQUIRED[kind] if c not in names]
    if kind == "pupils" and "upn" not in names and "admission_number" not in names:
        missing.insert(0, "upn or admission_number")
    if missing:
        raise _Refused(f"the {kind} file is missing required columns: {', '.join(missing)}")
    repeated = sorted({n for n in names if n in KNOWN[kind] and names.count(n) > 1})
    if repeated:
        raise _Refused(f"the {kind} file's header repeats columns: {', '.join(repeated)}")


def _data_rows(lines: Iterator[tuple[int, list[str]]], width: int) -> list[tuple[int, list[str]]]:
    rows = []
    for line, cells in lines:
        if len(cells) != width:
            raise _Refused(f"line {line} has {len(cells)} cells but the header has {width}")
        rows.append((line, cells))
    return rows


def _by_kind(tables: list[Table]) -> dict[Kind, Table]:
    found: dict[Kind, Table] = {}
    for table in tables:
        if table.kind in found:
            raise _Refused(f"the zip archive holds two {table.kind} files")
        found[table.kind] = table
    return found


def _build(tables: dict[Kind, Table], school_urn: str, now: datetime) -> ParseResult:
    pupils, contacts, excluded, problems = _pupils(tables["pupils"]) if "pupils" in tables else ([], [], 0, [])
    staff_table = tables.get("staff")
    staff = [_staff(line, _getter(staff_table, cells)) for line, cells in staff_table.rows] if staff_table else []
    raw = {"version": 1, "school_urn": school_urn, "source": "csv", "generated_at": now,
           "pupils": pupils, "contacts": contacts, "staff": staff,
           "covers": [part for part in ("pupils", "staff") if part in tables]}  # the files given, in full
    return finish(raw, problems, excluded)


Getter = Callable[[str], str | None]


def _getter(table: Table, cells: list[str]) -> Getter:
    """Look up a known column's cell in a row: stripped, None when blank or absent."""
    def get(name: str) -> str | None:
        i = table.columns.get(name)
        value = cells[i].strip() if i is not None else ""
        return value or None
    return get


def _pupils(table: Table) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, list[Problem]]:
    """Pupils (one per ref, from their first row) and their contacts, leaving opted-out contacts out."""
    pupils: dict[str, dict[str, Any]] = {}
    contacts: list[dict[str, Any]] = []
    order: dict[str, int] = {}
    excluded, problems = 0, []
    for line, cells in table.rows:
        get = _getter(table, cells)
        pupil = _pupil(line, get)
        ref = pupil.get("ref")
        if ref is None:
            problems.append(Problem("pupil", line, "upn", "the row has neither a UPN nor an admission number"))
            continue
        problems += _same_pupil(pupils.setdefault(ref, pupil), pupil, line)
        if not any(get(c) for c in CONTACT_COLUMNS):
            continue
        order[ref] = order.get(ref, 0) + 1
        if is_opt_out(get("contact_priority")):
            excluded += 1
            continue
        contacts.append(_contact(line, get, ref, order[ref]))
    return list(pupils.values()), contacts, excluded, problems


def _pupil(line: int, get: Getter) -> dict[str, Any]:
    return compact({
        "source_row": line, "ref": get("upn") or get("admission_number"), "upn": get("upn"),
        "admission_number": get("admission_number"), "legal_forename": get("legal_forename"),
        "legal_surname": get("legal_surname"), "preferred_forename": get("preferred_forename"),
        "preferred_surname": get("preferred_surname"), "gender": parse_gender(get("gender")),
        "date_of_birth": parse_date(get("date_of_birth")), "year_group": parse_year_group(get("year_group")),
        "reg_group": get("reg_group")})


def _same_pupil(first: dict[str, Any], again: dict[str, Any], line: int) -> list[Problem]:
    """A pupil's columns must repeat unchanged on each of the pupil's rows."""
    differing = sorted(k for k in (set(first) | set(again)) - {"source_row"} if first.get(k) != again.get(k))
    return [Problem("pupil", line, k, f"differs from the pupil's first row (line {first['source_row']})")
            for k in differing]


def _contact(line: int, get: Getter, pupil_ref: str, order: int) -> dict[str, Any]:
    return compact({
        "source_row": line, "pupil_ref": pupil_ref,
        "ref": get("contact_id") or get("contact_priority") or str(order),
        "title": get("contact_title"), "forename": get("contact_forename"), "surname": get("contact_surname"),
        "relationship": get("relationship"),
        "parental_responsibility": parse_flag(get("parental_responsibility")),
        "priority": get("contact_priority"), "email": get("contact_email"), "mobile": get("contact_mobile")})


def _staff(line: int, get: Getter) -> dict[str, Any]:
    return compact({"source_row": line, "ref": get("staff_id"), "title": get("title"),
                    "forename": get("forename"), "surname": get("surname"), "email": get("email"),
                    "mobile": get("mobile"), "role": get("role")})


def parse_date(text: str | None) -> str | None:
    """DD/MM/YYYY as YYYY-MM-DD; anything else unchanged (the schema judges it)."""
    match = _DMY.fullmatch(text) if text else None
    if match is None:
        return text
    day, month, year = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"
