"""Email addresses and mobile numbers: checked and normalised, with a fast path for the common forms.

email-validator and phonenumbers decide what is valid. Most values in a roster are in a
plain form ("jo.bloggs@example.com", "07700 900123", "+447700900123") for which the
outcome is known without running their full parsers: the fast paths recognise only
such forms and give exactly the result the libraries give (tests/unit/mis/test_normalise.py
compares the two). Everything else, valid or not, goes through the libraries.
"""
from __future__ import annotations

import functools
import re

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

# Ofcom keeps 07700 900000-900999 for drama: no subscriber can hold one, so test and demo data may use them.
_DRAMA_MOBILES = range(7700900000, 7700901000)
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}

# A dot-atom local part of ASCII atext (RFC 5322 3.2.3), then a host name of ASCII labels with an
# alphabetic top-level label. Explicit ASCII classes: with re.IGNORECASE, [a-z] would match "K" (U+212A).
_ATEXT = r"A-Za-z0-9_!#$%&'*+\-/=?^`{|}~"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})")
_EMAIL_MAX, _DOMAIN_MAX = 254, 253
# A UK mobile as a national number (07xxx xxxxxx) or in international form (+44 7xxx xxxxxx).
_PLAIN_UK_MOBILE = re.compile(r"(?:\+44 ?|0)(7[0-9]{3}) ?([0-9]{6})")


class FieldError(ValueError):
    """A value that cannot be used; the message is a reason that never contains the value."""


def normalise_email(value: str) -> str:
    """The address with its domain lower-cased (local part kept); FieldError if it is not a valid address."""
    plain = _plain_email(value)
    if plain is not None:
        return plain
    try:
        checked = validate_email(value, check_deliverability=False)
    except (EmailNotValidError, ValueError, UnicodeError):
        raise FieldError("is not a valid email address") from None
    return f"{checked.local_part}@{checked.domain.lower()}"


def _plain_email(value: str) -> str | None:
    """normalise_email's result for a plain ASCII address email-validator accepts unchanged; else None."""
    m = _PLAIN_EMAIL.fullmatch(value)
    if m is None or len(value) > _EMAIL_MAX:
        return None
    local, domain = m.group(1), m.group(2).lower()
    # Left to email-validator: Punycode and other "--" labels, role names it lower-cases, and
    # special-use domains it refuses (read at call time: the library lets callers change the list).
    if len(domain) > _DOMAIN_MAX or "--" in domain or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    if _special_use(tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)).search(domain):
        return None
    return f"{local}@{domain}"


@functools.lru_cache(maxsize=4)
def _special_use(names: tuple[str, ...]) -> re.Pattern[str]:
    """Matches a domain that is one of `names` or under one (email-validator's own test)."""
    return re.compile(r"(?:\A|\.)(?:" + "|".join(re.escape(n.lower()) for n in names) + r")\Z")


def normalise_mobile(value: str) -> str:
    """The number in E.164 (+447...) if it is a valid mobile number (UK by default); FieldError otherwise."""
    number = _plain_uk_mobile(value)
    if number is None:
        try:
            number = phonenumbers.parse(value, "GB")
        except (phonenumbers.NumberParseException, ValueError, UnicodeError):
            raise FieldError("is not a valid phone number") from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.country_code == 44 and number.national_number in _DRAMA_MOBILES:
        return e164
    # number_type is UNKNOWN exactly when is_valid_number is False (both judge the number against the
    # metadata of the region it belongs to), so one call answers both questions.
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        raise FieldError("is not a valid phone number")
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise FieldError("is a landline number, not a mobile number")
    if kind not in _MOBILE_TYPES:
        raise FieldError("is not a mobile number")
    return e164


def _plain_uk_mobile(value: str) -> phonenumbers.PhoneNumber | None:
    """What phonenumbers.parse(value, "GB") gives for a plain UK 07 number; None for other forms."""
    m = _PLAIN_UK_MOBILE.fullmatch(value)
    if m is None:
        return None
    return phonenumbers.PhoneNumber(country_code=44, national_number=int(m.group(1) + m.group(2)))
