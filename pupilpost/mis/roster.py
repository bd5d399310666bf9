"""The roster: what a school-side extractor uploads (encrypted), after data minimisation.

Only the fields Pupilpost needs travel. Parsers (CSV, CTF) produce it on the
school's side; ingest validates it again (`pupilpost.mis.validate`) before
anything is imported. `source_row` names a record in reports without quoting
any personal value (the CSV line or the CTF pupil position).
"""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Gender = Literal["M", "F", "U", "X"]
Part = Literal["pupils", "staff"]  # "pupils" is the pupils with their contacts
# Which part each of the roster's lists belongs to (what `Roster.covers` names).
PART_OF: dict[str, Part] = {"pupils": "pupils", "contacts": "pupils", "staff": "staff"}


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    source_row: int | None = Field(default=None, ge=0, description="line or position in the source export")


class PupilRecord(_Record):
    """A pupil. `ref` is the MIS's stable identifier: the UPN if known, else the admission number."""

    ref: str = Field(min_length=1, max_length=40)
    upn: str | None = Field(default=None, max_length=13)
    admission_number: str | None = Field(default=None, max_length=20)
    legal_forename: str = Field(min_length=1, max_length=100)
    legal_surname: str = Field(min_length=1, max_length=100)
    preferred_forename: str | None = Field(default=None, max_length=100)
    preferred_surname: str | None = Field(default=None, max_length=100)
    gender: Gender
    date_of_birth: date
    year_group: str = Field(min_length=1, max_length=4, description="NC year: N1, N2, R, 1-14, X")
    reg_group: str | None = Field(default=None, max_length=20)


class ContactRecord(_Record):
    """A contact of one pupil. `ref` identifies the contact within that pupil (MIS id or order)."""

    pupil_ref: str = Field(min_length=1, max_length=40)
    ref: str = Field(min_length=1, max_length=40)
    title: str | None = Field(default=None, max_length=20)
    forename: str | None = Field(default=None, max_length=100)
    surname: str = Field(min_length=1, max_length=100)
    relationship: str = Field(min_length=1, max_length=40)
    parental_responsibility: bool
    priority: int = Field(ge=1, le=9)
    email: str | None = Field(default=None, max_length=320)
    mobile: str | None = Field(default=None, max_length=30)


class StaffRecord(_Record):
    """A member of staff."""

    ref: str = Field(min_length=1, max_length=40)
    title: str | None = Field(default=None, max_length=20)
    forename: str = Field(min_length=1, max_length=100)
    surname: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    mobile: str | None = Field(default=None, max_length=30)
    role: str = Field(min_length=1, max_length=60)


class Roster(BaseModel):
    """One school's directory as exported from its MIS: the upload payload (version 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    school_urn: str = Field(pattern=r"^[0-9]{6}$")
    source: Literal["csv", "ctf"]
    generated_at: AwareDatetime
    pupils: tuple[PupilRecord, ...] = ()
    contacts: tuple[ContactRecord, ...] = ()
    staff: tuple[StaffRecord, ...] = ()
    # Contacts with MIS priority 9 (opted out) that the extractor left out: a count, never the records.
    excluded_opt_out: int = Field(default=0, ge=0)
    # What the export holds in full. A part it does not cover is left as it is: a staff-only CSV
    # never removes the pupils, and a CTF (which has no staff) never removes the staff. Absent (an
    # older extractor): the parts that have records. `validate` always fills it in.
    covers: tuple[Part, ...] | None = Field(default=None, min_length=1, max_length=2)
