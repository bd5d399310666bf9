"""Structured PII detectors: UPN, NHS number, NI number, bank details, email, phone, date of birth, address.

Each detector is a pure function of the text and returns `(kind, start, end)` spans. Check
digits are verified where the identifier has one, and contact details are kept only when
they belong to an individual (not a school switchboard, role mailbox or school address).
"""
from __future__ import annotations

import re

Span = tuple[str, int, int]

# --- identifiers with check digits -------------------------------------------------------------
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # DfE check letters: remainder 0..22 (no I, O, S)
# No leading look-behinds (they stop `re` skipping ahead fast); `_clear_before` checks the previous character.
_UPN = re.compile(r"([A-Z])(\d{12})(?![A-Za-z0-9])")
_NHS = re.compile(r"(\d{3})([ -]?)(\d{3})\2(\d{4})(?![\d])")
_NHS_CONTEXT = re.compile(r"\bNHS\b|\bhealth (?:service )?number", re.IGNORECASE)
_NI = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?: ?\d{2}){3} ?[A-D](?![A-Za-z0-9])")
_PHONE_WORD = re.compile(r"(?:tel|phone|call|mobile|ring)\W{0,12}$", re.IGNORECASE)
_NI_BAD_PREFIX = frozenset("BG GB NK KN TN NT ZZ".split())


def _clear_before(text: str, start: int, disallowed: str) -> bool:
    """The character before `start` is not alphanumeric and not one of `disallowed`."""
    return start == 0 or not (text[start - 1].isalnum() or text[start - 1] in disallowed)


def upn_check_letter(digits: str) -> str:
    """The DfE check letter for the 12 digits of a UPN (weights 2..13, sum mod 23)."""
    total = sum(int(d) * w for d, w in zip(digits, range(2, 14), strict=True))
    return _UPN_LETTERS[total % 23]


def is_valid_upn(upn: str) -> bool:
    """A permanent UPN: check letter followed by 12 digits, with the right check letter."""
    upn = upn.strip().upper()
    return bool(re.fullmatch(r"[A-Z]\d{12}", upn)) and upn_check_letter(upn[1:]) == upn[0]


def is_valid_nhs_number(number: str) -> bool:
    """10 digits whose last is the mod-11 check digit of the first nine (weights 10..2)."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) != 10 or len(re.sub(r"[\s-]", "", number)) != 10:
        return False
    check = 11 - sum(d * w for d, w in zip(digits[:9], range(10, 1, -1))) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == digits[9]


def is_valid_ni_number(number: str) -> bool:
    """HMRC format: two prefix letters (not D F I Q U V; second not O; no BG GB NK KN TN NT ZZ), 6 digits, A-D."""
    number = number.strip().upper()
    return bool(_NI.fullmatch(number)) and number[:2] not in _NI_BAD_PREFIX


def find_upns(text: str) -> list[Span]:
    return [("upn", m.start(), m.end()) for m in _UPN.finditer(text)
            if _clear_before(text, m.start(), "") and upn_check_letter(m.group(2)) == m.group(1)]


def find_nhs_numbers(text: str) -> list[Span]:
    out = []
    for m in _NHS.finditer(text):
        if not _clear_before(text, m.start(), "£.,"):
            continue
        spaced = bool(m.group(2))
        near = _NHS_CONTEXT.search(text[max(0, m.start() - 40):m.start()])
        if (spaced or near) and is_valid_nhs_number(m.group()) and not _looks_like_phone(text, m.start()):
            out.append(("nhs_number", m.start(), m.end()))
    return out


def find_ni_numbers(text: str) -> list[Span]:
    return [("ni_number", m.start(), m.end()) for m in _NI.finditer(text)
            if _clear_before(text, m.start(), "") and m.group()[:2] not in _NI_BAD_PREFIX]


def _looks_like_phone(text: str, start: int) -> bool:
    return text[start] == "0" or bool(_PHONE_WORD.search(text[max(0, start - 20):start]))


# --- bank details ------------------------------------------------------------------------------
_SORT_CODE = re.compile(r"(?i:sort[\s-]?code)\W{0,4}(\d{2}[- ]?\d{2}[- ]?\d{2})(?!\d)|(?<!\d)(\d{2}-\d{2}-\d{2})(?!\d)")
_ACCOUNT = re.compile(r"(?i:(?:account|acc|a/c)\s*(?:no\.?|number|num|#)?)\W{0,4}(\d{8}|\d{7})(?!\d)")
_IBAN = re.compile(r"\bGB\d{2}\s?[A-Z]{4}(?:\s?\d{4}){3}\s?\d{2}\b")


def find_bank_details(text: str) -> list[Span]:
    """A sort code together with an account number (within a few lines), or a UK IBAN."""
    out: list[Span] = [("bank_account", m.start(), m.end()) for m in _IBAN.finditer(text)]
    sorts = [m for m in _SORT_CODE.finditer(text)]
    accounts = [m for m in _ACCOUNT.finditer(text)]
    for s in sorts:
        paired = [a for a in accounts if abs(a.start() - s.start()) <= 160]
        if paired:
            g = 1 if s.group(1) else 2
            out.append(("bank_account", s.start(g), s.end(g)))
            out.extend(("bank_account", a.start(1), a.end(1)) for a in paired)
    return out


# --- email -------------------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ROLE_MAILBOX = frozenset(
    """office admin administration enquiries enquiry info information head headteacher headofschool
        principal finance accounts attendance absence absences reception sen senco send inclusion
        safeguarding dsl exams examinations admissions hr payroll pta clubs wraparound breakfastclub
        transport careers sixthform pastoral parentpay catering kitchen it ict support helpdesk contact
        hello mail school bursar bursary governors governor clerk data uniform lettings trips library
        studentservices noreply no-reply donotreply parents families wellbeing nurse medical sport sports pe
        music admin1 office1 schooloffice year reception1 team staff general busmanager businessmanager
        business manager""".split())


def find_emails(text: str) -> list[Span]:
    """Email addresses of individuals; role mailboxes (office@, attendance@, year6@...) are not PII."""
    out = []
    for m in _EMAIL.finditer(text):
        local = m.group().split("@", 1)[0].lower()
        parts = [p for p in re.split(r"[._+-]", local) if p]
        if local in _ROLE_MAILBOX or all(re.sub(r"\d+$", "", p) in _ROLE_MAILBOX or p.isdigit() for p in parts):
            continue
        out.append(("email", m.start(), m.end()))
    return out


# --- phone -------------------------------------------------------------------------------------
_PHONE = re.compile(r"(?:\+44\s?(?:\(0\)\s?)?|\(?0)\d{2,4}\)?(?:[\s-]?\d){6,8}(?!\d)")
_PERSONAL_PHONE = re.compile(
    r"(?:mobile|mob|your (?:number|phone|mobile)|contact number|priority|home (?:phone|number|tel)|"
    r"mum|dad|mother|father|parent|carer|grandparent|gran|nan|text me|my mobile|emergency contact|"
    r"personal|whatsapp)\W{0,40}$|(?:number|mobile|phone) (?:for|of) \w+ (?:to|is|as)\W{0,4}$", re.IGNORECASE)
_SCHOOL_PHONE = re.compile(
    r"(?:office|reception|school|attendance|absence|line|switchboard|main|tel|telephone|call us|ring us|"
    r"student services|front desk|hub|team|department|academy|college|primary|infants|on)\W{0,30}$",
    re.IGNORECASE)


def find_phones(text: str) -> list[Span]:
    """UK phone numbers belonging to a person; school switchboards and lines are not PII."""
    out = []
    for m in _PHONE.finditer(text):
        if not _clear_before(text, m.start(), "£"):
            continue
        digits = re.sub(r"\D", "", m.group())
        digits = "0" + digits[2:] if digits.startswith("44") else digits
        if len(digits) not in (10, 11) or digits[1] not in "1237":
            continue
        before = text[max(0, m.start() - 60):m.start()]
        line = before.rsplit("\n", 1)[-1]
        if _PERSONAL_PHONE.search(line) or digits.startswith("07") and not _SCHOOL_PHONE.search(line):
            out.append(("phone", m.start(), m.end()))
    return out


# --- date of birth -----------------------------------------------------------------------------
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_DATE = rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-](?:\d{{4}}|\d{{2}})|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\s+\d{{4}}|" \
        rf"{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
_DOB = re.compile(rf"(?i:date\s+of\s+birth|d\.?o\.?b\.?|born(?:\s+on)?|birth\s*date)\W{{0,6}}(?:is\s+)?({_DATE})",
                  re.IGNORECASE)


def find_dates_of_birth(text: str) -> list[Span]:
    return [("date_of_birth", m.start(1), m.end(1)) for m in _DOB.finditer(text)]


# --- postal address ----------------------------------------------------------------------------
_STREET = (r"(?:Road|Rd|Street|St|Lane|Ln|Avenue|Ave|Close|Drive|Dr|Terrace|Way|Crescent|Court|Ct|Place|Pl|"
           r"Gardens|Grove|Walk|Row|Hill|Rise|Mews|Square|Park|View|Green|Parade|Fold|Gate|Wharf|Croft|Meadow|"
           r"Meadows|Vale|Bank|Chase|Lea|End|Yard|Boulevard|Wynd|Brae)")
_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[ABD-HJLNP-UW-Z]{2}"
_ADDRESS = re.compile(
    rf"(?<![\w£])(?:(?:Flat|Apartment)\s+\d+[A-Za-z]?,?\s+)?\d{{1,4}}[A-Za-z]?,?\s+(?:[A-Z][a-z'’-]+\s+){{1,3}}"
    rf"{_STREET}\b(?:,?\s+[A-Z][a-z'’-]+(?:\s[A-Z][a-z'’-]+){{0,2}})?(?:,?\s+{_POSTCODE})?")
_PERSONAL_ADDRESS = re.compile(
    r"(?:your (?:home )?address|home address|address:|address as|address is|lives? at|living at|moved to|"
    r"new address|collect \w+ from|records show|staying at|resides at|at home at)\W{0,60}$", re.IGNORECASE)
_SCHOOL_ADDRESS = re.compile(
    r"(?:school|primary|academy|college|infants|juniors|high|nursery|office|trust|centre|hall|church|library|"
    r"museum|venue|meet at|held at|located at|takes place at|at the|reception|pool|stadium|surgery|practice)"
    r"\W{0,20}$", re.IGNORECASE)


def find_addresses(text: str, personalised: bool) -> list[Span]:
    """Home addresses of individuals; a school's or venue's address is not PII."""
    out = []
    for m in _ADDRESS.finditer(text):
        before = text[max(0, m.start() - 80):m.start()]
        if _PERSONAL_ADDRESS.search(before) or (
                personalised and not _SCHOOL_ADDRESS.search(before) and re.search(_POSTCODE, m.group())):
            out.append(("address", m.start(), m.end()))
    return out


_HOUSE_NUMBER = re.compile(r"\d[A-Za-z]?,?\s+[A-Z][a-z'’-]+\s+[A-Z]")
_DIGIT_RUN = re.compile(r"\d\d[ -]?\d\d[ -]?\d\d")
_DOB_WORDS = ("birth", "dob", "d.o.b", "born")


def find_structured_pii(text: str, *, personalised: bool) -> list[Span]:
    """Every structured PII span in `text` (names are found elsewhere); cheap gates skip absent kinds."""
    spans: list[Span] = []
    low = text.lower()
    if any(w in low for w in _DOB_WORDS):
        spans += find_dates_of_birth(text)
    if "@" in text:
        spans += find_emails(text)
    if _DIGIT_RUN.search(text):
        spans += find_phones(text) + find_upns(text) + find_nhs_numbers(text) + find_ni_numbers(text)
        if "sort" in low or "gb" in low:
            spans += find_bank_details(text)
    if (personalised or "address" in low or " at " in low) and _HOUSE_NUMBER.search(text):
        spans += find_addresses(text, personalised)
    return spans
