"""The topic registry: each topic's models, producers, consumers and dead-letter topic."""
from __future__ import annotations

from dataclasses import dataclass

from schemas.audit import AccessV1
from schemas.auth import CredentialIssuedV1, CredentialRevokedV1
from schemas.directory import ContactChangeDecidedV1, ContactChangeRequestedV1, DirectoryChangesV1
from schemas.envelope import Envelope
from schemas.messages import (
    DeliveryStatusV1, DeliveryStatusV2, MessageApprovalV1, MessageClassifiedV1, MessageRecalledV1, MessageSubmittedV1,
)
from schemas.tenancy import SchoolCreatedV1, SchoolProvisionedV1

ALL_SERVICES = ("ingest", "classifier", "dispatch", "audit", "retention")


@dataclass(frozen=True)
class Topic:
    """One Kafka topic, keyed by school_id."""

    name: str
    models: tuple[type[Envelope], ...]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    description: str

    @property
    def dlq(self) -> str:
        """Where events that cannot be processed go, with the reason."""
        return f"{self.name}.dlq"


TOPICS: dict[str, Topic] = {t.name: t for t in (
    Topic("tenancy.school.created", (SchoolCreatedV1,), ("ingest",), ALL_SERVICES,
          "A school was created; each service provisions its per-school state."),
    Topic("tenancy.school.provisioned", (SchoolProvisionedV1,), ALL_SERVICES, ("ingest",),
          "A service finished provisioning a school."),
    Topic("audit.access", (AccessV1,), ALL_SERVICES, ("audit",),
          "Every read or change of personal data, by a person or a service."),
    Topic("directory.changes", (DirectoryChangesV1,), ("ingest",), ("classifier", "dispatch"),
          "What an MIS upload changed: pupils, contacts, staff, as ciphertext."),
    Topic("directory.contact_change", (ContactChangeRequestedV1, ContactChangeDecidedV1), ("ingest",), ("dispatch",),
          "Email/mobile changes awaiting the parent's confirmation, and their outcome."),
    Topic("messages.submitted", (MessageSubmittedV1,), ("ingest",), ("classifier", "dispatch"),
          "A school submitted a message (content is ciphertext under the message's key)."),
    Topic("messages.classified", (MessageClassifiedV1,), ("classifier",), ("ingest", "dispatch"),
          "The classification of a message: level, categories, PII kinds, evidence offsets."),
    Topic("messages.approval", (MessageApprovalV1,), ("ingest",), ("dispatch",),
          "Four-eyes decisions on official-sensitive messages."),
    Topic("messages.recalled", (MessageRecalledV1,), ("ingest",), ("dispatch",),
          "A message was recalled; its key is already destroyed."),
    Topic("deliveries.status", (DeliveryStatusV1, DeliveryStatusV2), ("dispatch",), ("ingest",),
          "Deliveries changed state: v2 carries up to 500 of one school; v1 (one delivery) is still read."),
    Topic("auth.credentials", (CredentialIssuedV1, CredentialRevokedV1), ("ingest",),
          ALL_SERVICES, "Credentials issued and revoked; services keep a hash-only projection."),
)}

MODELS: dict[tuple[str, int], type[Envelope]] = {
    (m.model_fields["type"].default, m.model_fields["version"].default): m
    for t in TOPICS.values() for m in t.models
}


def model_for(type_: str, version: int) -> type[Envelope]:
    """The model class of an event type and version."""
    return MODELS[(type_, version)]


def topic_of(event: Envelope) -> str:
    """The topic an event is published on."""
    for topic in TOPICS.values():
        if type(event) in topic.models:
            return topic.name
    raise KeyError(f"no topic carries {type(event).__name__}")


def consumed_by(service: str) -> list[Topic]:
    """Topics a service subscribes to."""
    return [t for t in TOPICS.values() if service in t.consumers]
