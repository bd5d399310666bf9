"""MessageCache gives the same bytes as build_message (bar the multipart boundary), for every
kind of sender name, subject, body, footer and address; odd addresses take build_message itself."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.dispatch.providers.email import MessageCache, OutboundEmail, build_message

SENDER = "messages@pupilpost.test"
NOW = datetime(2026, 1, 5, 7, 30, tzinfo=UTC)
BOUNDARY = re.compile(rb"={15}\d+==")


def same(msg: OutboundEmail, cache: MessageCache | None = None) -> None:
    fast, recipient, message_id = (cache or MessageCache(SENDER)).build(msg, NOW)
    slow = build_message(msg, SENDER, NOW)
    assert BOUNDARY.sub(b"B", fast) == BOUNDARY.sub(b"B", slow.as_bytes())
    assert (recipient, message_id) == (str(slow["To"]), str(slow["Message-ID"]))


text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(name=st.none() | text, subject=text, body=text, footer=st.text(max_size=200),
       html=st.none() | st.just("<html><body><p>Snow</p></body></html>"), reply=st.booleans(),
       to=st.sampled_from(["p1@example.org", "Mary.O'Neil+snow@sub.example.co.uk", "x" * 60 + "@e.org",
                           "\"quoted local\"@example.org", "Zoë@example.org", "parent <p@example.org>"]))
def test_cached_bytes_are_build_message_bytes(name, subject, body, footer, html, to, reply):
    same(OutboundEmail(delivery_id="0b9c3c1e-3d0a-4b8e-9d7e-2f1c6a8b5e4d", to=to, subject=subject, text=body,
                       html=html, footer=footer, from_name=name, reply_to="office@example.org" if reply else None))


def test_one_content_many_recipients():
    cache = MessageCache(SENDER)
    for i in range(5):
        same(OutboundEmail(delivery_id=f"d{i}", to=f"parent{i}@example.org", subject="Closed (snow)",
                           text="The school is closed today.", footer="Footer", from_name="Snow Primary"), cache)
    assert len(cache._templates) == 1


def test_lists_and_bad_ids_are_refused_as_before():
    cache = MessageCache(SENDER)
    with pytest.raises(ValueError):
        cache.build(OutboundEmail(delivery_id="d1", to="a@example.org, b@example.org", subject="s", text="t"))
    with pytest.raises(ValueError):
        cache.build(OutboundEmail(delivery_id="bad id\r\nBcc: x@example.org", to="a@example.org", subject="s",
                                  text="t"))
