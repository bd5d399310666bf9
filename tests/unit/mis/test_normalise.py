"""The fast paths for emails and mobiles give exactly what email-validator and phonenumbers give."""
from __future__ import annotations

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pupilpost.mis import normalise
from pupilpost.mis.normalise import FieldError, normalise_email, normalise_mobile

PIECES = ["jo", "Jo", "a.b", "info", "INFO", "Support", "x--y", "xn--bcher-kva", "example", "com", "co", "uk",
          "test", "local", "localhost", "onion", "arpa", "invalid", "-a", "a-", "1", "123", "K", "\u212a", "\u017f",
          "\u00e9", "o'brien", "a+b", "a..b", ".", "", "@", " ", "a" * 64, "b" * 70, "Ex", "ORG", "_", "{", "~"]
piece = st.sampled_from(PIECES)
local_parts = st.lists(piece, min_size=1, max_size=3).map("".join)
domains = st.lists(st.lists(piece, min_size=1, max_size=2).map("".join), min_size=1, max_size=4).map(".".join)


def library_email(value: str) -> str | None:
    """What normalise_email returned before the fast path: email-validator's normalised form."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except (EmailNotValidError, ValueError, UnicodeError):
        return None
    return f"{checked.local_part}@{checked.domain.lower()}"


def library_mobile(value: str) -> str:
    """What normalise_mobile returned before the fast path: E.164, or the reason."""
    try:
        number = phonenumbers.parse(value, "GB")
    except (phonenumbers.NumberParseException, ValueError, UnicodeError):
        return "is not a valid phone number"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.country_code == 44 and number.national_number in normalise._DRAMA_MOBILES:
        return e164
    if not phonenumbers.is_valid_number(number):
        return "is not a valid phone number"
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        return "is a landline number, not a mobile number"
    if kind not in normalise._MOBILE_TYPES:
        return "is not a mobile number"
    return e164


def ours_mobile(value: str) -> str:
    try:
        return normalise_mobile(value)
    except FieldError as exc:
        return str(exc)


@settings(max_examples=1000)
@given(local=local_parts, domain=domains)
@example(local="jo.bloggs", domain="Example.COM")
@example(local="info", domain="example.com")
@example(local="jo", domain="mail.localhost")
@example(local="jo", domain="xn--bcher-kva.de")
def test_emails_agree_with_email_validator(local, domain):
    value = f"{local}@{domain}"
    fast = normalise._plain_email(value)
    assert fast is None or fast == library_email(value)
    try:
        ours = normalise_email(value)
    except FieldError:
        ours = None
    assert ours == library_email(value)


@pytest.mark.parametrize("value", ["jo.bloggs@example.com", "Jo.Bloggs@Example.COM", "o'brien+x@mail.example.co.uk"])
def test_plain_addresses_take_the_fast_path(value):
    assert normalise._plain_email(value) == library_email(value) is not None


@settings(max_examples=1000)
@given(prefix=st.integers(7000, 7999), rest=st.integers(0, 999_999),
       form=st.sampled_from(["0{p} {s}", "0{p}{s}", "+44 {p} {s}", "+44{p}{s}", "+44{p} {s}"]))
def test_uk_mobiles_agree_with_phonenumbers(prefix, rest, form):
    value = form.format(p=prefix, s=f"{rest:06d}")
    assert normalise._plain_uk_mobile(value) == phonenumbers.parse(value, "GB")
    assert ours_mobile(value) == library_mobile(value)


@given(st.text(alphabet="0123456789 +()-7x", min_size=1, max_size=18).map(str.strip).filter(bool))
def test_other_numbers_agree_with_phonenumbers(value):
    assert ours_mobile(value) == library_mobile(value)


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_every_regions_example_numbers_agree(region):
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                 phonenumbers.PhoneNumberType.PERSONAL_NUMBER, phonenumbers.PhoneNumberType.TOLL_FREE):
        number = phonenumbers.example_number_for_type(region, kind)
        if number is not None:
            value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            assert ours_mobile(value) == library_mobile(value)
