"""Message events: submitted by ingest, classified by the classifier, approved (four eyes),
recalled; and the delivery status dispatch reports. Content is only ever ciphertext."""
from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import Envelope

Level = Literal["public", "official", "official-sensitive"]
Category = Literal["health", "sen", "safeguarding", "criminal", "ethnicity", "religion", "sexual_orientation",
                   "biometric", "genetic", "political", "trade_union", "financial", "looked_after"]
PiiKind = Literal["person_name", "date_of_birth", "email", "phone", "address", "upn", "nhs_number",
                  "ni_number", "bank_account"]
Channel = Literal["email", "sms", "app", "push"]


class Audience(BaseModel):
    """Who a message is for. Group names and ids are not personal data on their own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    whole_school: bool = False
    year_groups: tuple[str, ...] = ()
    reg_groups: tuple[str, ...] = ()
    pupil_ids: tuple[UUID, ...] = ()
    staff: bool = False


class MessageSubmittedV1(Envelope):
    """A school submitted a message; `content` is ciphertext under the message's own key
    (field `message.content`: JSON with subject and body), so recall can shred it."""

    type: Literal["messages.submitted"] = "messages.submitted"
    version: Literal[1] = 1
    school_id: UUID
    message_id: UUID
    author_id: UUID
    audience: Audience
    kind: Literal["information", "emergency", "marketing"]
    urgent: bool = False
    personalised: bool = False
    schedule_at: AwareDatetime | None = None
    marked_level: Level | None = None
    requires_approval: bool = False
    content: str = Field(description="base64 ciphertext")


class Evidence(BaseModel):
    """Why: a finding and where it is in the message (offsets only, never the text)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["category", "pii", "personal", "other_pupil"]
    label: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class MessageClassifiedV1(Envelope):
    """The classifier's decision about a message (the higher of its own and the school's mark)."""

    type: Literal["messages.classified"] = "messages.classified"
    version: Literal[1] = 1
    school_id: UUID
    message_id: UUID
    level: Level
    categories: tuple[Category, ...] = ()
    pii: tuple[PiiKind, ...] = ()
    personal: bool
    other_pupil_named: bool | None = None
    evidence: tuple[Evidence, ...] = ()
    classifier_version: str
    urgent: bool = Field(default=False, description="copied from the submission: consumers handle it in their urgent lane")


def is_urgent(event: Envelope) -> bool:
    """Whether a message event belongs in the urgent lane (see pupilpost.bus.Lane)."""
    return bool(getattr(event, "urgent", False))


class MessageApprovalV1(Envelope):
    """A second staff member approved or rejected an official-sensitive message."""

    type: Literal["messages.approval"] = "messages.approval"
    version: Literal[1] = 1
    school_id: UUID
    message_id: UUID
    approver_id: UUID
    decision: Literal["approved", "rejected"]
    urgent: bool = Field(default=False, description="the message's: consumers handle it in their urgent lane")


class MessageRecalledV1(Envelope):
    """A message was recalled: its key is destroyed, pending deliveries are cancelled."""

    type: Literal["messages.recalled"] = "messages.recalled"
    version: Literal[1] = 1
    school_id: UUID
    message_id: UUID
    recalled_by: UUID


class DeliveryStatusV1(Envelope):
    """One delivery (message, recipient, channel) changed state."""

    type: Literal["deliveries.status"] = "deliveries.status"
    version: Literal[1] = 1
    school_id: UUID
    delivery_id: UUID
    message_id: UUID
    channel: Channel
    state: Literal["queued", "sent", "delivered", "failed", "bounced", "read", "cancelled"]
    provider_message_id: str | None = Field(default=None, max_length=200)
    error_code: str | None = Field(default=None, max_length=50)


DeliveryState = Literal["queued", "sent", "delivered", "failed", "bounced", "read", "cancelled"]
MAX_UPDATES = 500


class DeliveryUpdate(BaseModel):
    """One delivery's new state, and when it took it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: UUID
    message_id: UUID
    channel: Channel
    state: DeliveryState
    at: AwareDatetime
    provider_message_id: str | None = Field(default=None, max_length=200)
    error_code: str | None = Field(default=None, max_length=50)


class DeliveryStatusV2(Envelope):
    """Deliveries of one school that changed state together (one hand-off batch, one plan): the
    same facts as v1, up to 500 to an event, so a snow day is not one event per delivery."""

    type: Literal["deliveries.status"] = "deliveries.status"
    version: Literal[2] = 2
    school_id: UUID
    updates: tuple[DeliveryUpdate, ...] = Field(min_length=1, max_length=MAX_UPDATES)
