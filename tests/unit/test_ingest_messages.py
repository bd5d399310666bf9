"""Composing: merge fields are checked at the door; a classified message goes to the right state."""
from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from schemas.messages import MessageClassifiedV1
from services.ingest.handlers import next_state
from services.ingest.messages import NewMessage

AUDIENCE = {"year_groups": ["4"]}


def errors(**body) -> list[dict]:
    with pytest.raises(ValidationError) as exc:
        NewMessage.model_validate({"audience": AUDIENCE, "subject": "s", "body": "b", **body})
    return exc.value.errors()


def test_unknown_merge_fields_are_named_by_where_they_are_not_what_they_say():
    [e] = errors(subject="Hi {{Ruby_Wright}}", personalised=True)
    assert e["loc"] == ("subject",) and "unknown merge field at character 3" in e["msg"]
    assert "Ruby" not in e["msg"] and "{{forename}}" in e["msg"]
    [e] = errors(body="{{forename}} and {{nickname}}", personalised=True)
    assert e["loc"] == ("body",)


def test_merge_fields_need_a_personalised_message_and_pupils_to_render_for():
    [e] = errors(body="Dear {{forename}}")
    assert "body" in e["msg"] and "personalised" in e["msg"]
    [e] = errors(body="{{forename}}", personalised=True, audience={"staff": True})
    assert "staff" in e["msg"]
    ok = NewMessage.model_validate({"audience": AUDIENCE, "subject": "{{ full_name }}", "body": "{{reg_group}}",
                                    "personalised": True})
    assert ok.personalised
    assert NewMessage.model_validate({"audience": AUDIENCE, "subject": "Fair", "body": "Bring {a} coat"})


def classified(level="public", other=None) -> MessageClassifiedV1:
    return MessageClassifiedV1(school_id=uuid4(), message_id=uuid4(), level=level, personal=True,
                               other_pupil_named=other, classifier_version="t")


def test_a_message_naming_another_pupil_is_blocked_whatever_else_holds():
    assert next_state(classified("official-sensitive", True), requires_approval=True) == "blocked"
    assert next_state(classified("public", True), requires_approval=False) == "blocked"
    assert next_state(classified("official-sensitive", False), requires_approval=True) == "awaiting_approval"
    assert next_state(classified("official-sensitive", None), requires_approval=False) == "released"
    assert next_state(classified("official", False), requires_approval=True) == "released"
