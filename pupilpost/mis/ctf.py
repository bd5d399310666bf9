"""Read a DfE Common Transfer File (CTF XML) into a roster, looking up only the elements Pupilpost needs.

Read, by path from the root CTfile:
  Header/SourceSchool/URN                          -> Roster.school_urn
  CTFpupilData/Pupil (its position is source_row):
    UPN (the pupil's ref), Surname, Forename, DOB, Gender,
    BasicDetails/PreferredSurname, BasicDetails/PreferredForename,
    BasicDetails/NCyearActual (or Pupil/NCyearActual),
    BasicDetails/RegGroup (or Pupil/RegGroup; optional, most CTF versions have none)
    Contacts/Contact: Order (the contact's ref and its priority; 9 = opted out,
      skipped and only counted), Title, Surname, Forename, Relationship (kept as
      the MIS gives it, code or word), Responsibility (true/false, 1/0, Y/N),
      Email (or Emails/Email/EmailAddress), and the first Phones/Phone whose
      TelephoneType is "M" (mobile, any case; the word "Mobile" is read too).
      Other telephone types (H home, W work, F fax, ...) are not read.
Nothing else is ever looked at: a CTF's ethnicity, SEN, FSM, medical flags,
attendance, languages, addresses and the pupil's own phones and email are not
read, so they cannot reach the roster. Element namespaces are ignored.

The XML is parsed by defusedxml, streaming, with DTDs, entities and external
references forbidden; a file larger than the limit is refused before parsing.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from pupilpost.mis.parse import (
    MAX_EXPORT_BYTES, ParseResult, compact, failed, finish, parse_flag, parse_gender, parse_year_group, size_text,
)
from pupilpost.mis.validate import Problem, is_opt_out

MOBILE_TYPES = frozenset({"M", "MOBILE"})
_PUPIL_PATH = ("CTfile", "CTFpupilData", "Pupil")
_HEADER_PATH = ("CTfile", "Header")


class _NotCtf(Exception):
    """The XML is well formed but is not a Common Transfer File."""


@dataclass
class _Scan:
    """What a pass over the file collected."""

    urn: str | None = None
    seen: int = 0
    pupils: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    excluded: int = 0
    problems: list[Problem] = field(default_factory=list)


def read_ctf(path_or_bytes: Path | bytes, *, school_urn: str | None, now: datetime,
             max_bytes: int = MAX_EXPORT_BYTES) -> ParseResult:
    """Parse a CTF (a path, or the file's bytes) into a roster; `school_urn`, if given, must match the file's."""
    size = len(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes.stat().st_size
    if size > max_bytes:
        return failed(f"the file is larger than {size_text(max_bytes)}")
    if size == 0:
        return failed("the file is empty")
    with _open(path_or_bytes) as stream:
        try:
            scan = _scan(stream)
        except (DefusedXmlException, ValueError, LookupError) as exc:
            return failed(_refusal(exc))
        except ParseError as exc:
            return failed(f"the file is not well-formed XML (line {exc.position[0]})")
        except _NotCtf:
            return failed("the file is not a Common Transfer File (its root element is not CTfile)")
    return _result(scan, school_urn, now)


def _open(source: Path | bytes) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")


def _refusal(exc: Exception) -> str:
    if isinstance(exc, DefusedXmlException):
        return "the file declares a DTD, entities or external references (<!DOCTYPE>, <!ENTITY>), which are refused"
    if isinstance(exc, LookupError):
        return "the file declares a character encoding that is not supported"
    return "the file is not well-formed XML"


def _scan(stream: IO[bytes]) -> _Scan:
    """One streaming pass: the header's URN, then each pupil as it ends (and is then freed)."""
    scan = _Scan()
    for path, elem in _ends(stream):
        if path == _HEADER_PATH:
            scan.urn = text(elem, "SourceSchool", "URN")
        elif path == _PUPIL_PATH:
            scan.seen += 1
            _add_pupil(scan, elem, scan.seen)
            elem.clear()
    return scan


def _ends(stream: IO[bytes]) -> Iterator[tuple[tuple[str, ...], Element]]:
    """(path of local names, element) as each element ends; refuses a root other than CTfile."""
    stack: list[str] = []
    events = safe_xml.iterparse(stream, events=("start", "end"), forbid_dtd=True, forbid_entities=True,
                                forbid_external=True)
    for event, elem in events:
        if event == "start":
            stack.append(_local(elem.tag))
            if stack == ["CTfile"] or len(stack) > 1:
                continue
            raise _NotCtf
        yield tuple(stack), elem
        stack.pop()


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def child(elem: Element | None, *names: str) -> Element | None:
    """The first element down the path of local names, or None."""
    for name in names:
        if elem is None:
            return None
        elem = next((c for c in elem if _local(c.tag) == name), None)
    return elem


def children(elem: Element | None, name: str) -> list[Element]:
    """The direct children with this local name."""
    return [] if elem is None else [c for c in elem if _local(c.tag) == name]


def text(elem: Element | None, *names: str) -> str | None:
    """The stripped text at the path, None when absent or blank."""
    found = child(elem, *names)
    value = (found.text or "").strip() if found is not None else ""
    return value or None


def _add_pupil(scan: _Scan, elem: Element, position: int) -> None:
    upn = text(elem, "UPN")
    if upn is None:
        scan.problems.append(Problem("pupil", position, "upn", "the pupil has no UPN"))
        return
    scan.pupils.append(_pupil(elem, upn, position))
    for contact in children(child(elem, "Contacts"), "Contact"):
        if is_opt_out(text(contact, "Order")):
            scan.excluded += 1
        else:
            scan.contacts.append(_contact(contact, upn, position))


def _pupil(elem: Element, upn: str, position: int) -> dict[str, Any]:
    basic = child(elem, "BasicDetails")
    return compact({
        "source_row": position, "ref": upn, "upn": upn, "legal_forename": text(elem, "Forename"),
        "legal_surname": text(elem, "Surname"), "preferred_forename": text(basic, "PreferredForename"),
        "preferred_surname": text(basic, "PreferredSurname"), "gender": parse_gender(text(elem, "Gender")),
        "date_of_birth": text(elem, "DOB"),
        "year_group": parse_year_group(text(basic, "NCyearActual") or text(elem, "NCyearActual")),
        "reg_group": text(basic, "RegGroup") or text(elem, "RegGroup")})


def _contact(elem: Element, pupil_ref: str, position: int) -> dict[str, Any]:
    order = text(elem, "Order")
    return compact({
        "source_row": position, "pupil_ref": pupil_ref, "ref": order, "priority": order,
        "title": text(elem, "Title"), "forename": text(elem, "Forename"), "surname": text(elem, "Surname"),
        "relationship": text(elem, "Relationship"),
        "parental_responsibility": parse_flag(text(elem, "Responsibility")),
        "email": text(elem, "Email") or text(elem, "Emails", "Email", "EmailAddress"),
        "mobile": _mobile(elem)})


def _mobile(contact: Element) -> str | None:
    for phone in children(child(contact, "Phones"), "Phone"):
        if (text(phone, "TelephoneType") or "").upper() in MOBILE_TYPES:
            return text(phone, "PhoneNo")
    return None


def _result(scan: _Scan, school_urn: str | None, now: datetime) -> ParseResult:
    urn = scan.urn or school_urn
    if urn is None:
        return failed("the file has no Header/SourceSchool/URN", field_name="school_urn")
    problems = list(scan.problems)
    if school_urn is not None and urn != school_urn:
        problems.insert(0, Problem("roster", None, "school_urn", "the file belongs to another school"))
    raw = {"version": 1, "school_urn": urn, "source": "ctf", "generated_at": now,
           "pupils": scan.pupils, "contacts": scan.contacts, "staff": [], "covers": ["pupils"]}  # no staff in a CTF
    return finish(raw, problems, scan.excluded)
