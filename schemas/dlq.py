"""The record written to `<topic>.dlq` when a consumer gives up on a message."""
from __future__ import annotations

import base64
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import UnknownEvent

ERROR_MAX = 1000


class DeadLetterV1(BaseModel):
    """A message a consumer could not process after its retries, with the reason.

    Not an event envelope: it wraps the original Kafka record byte for byte. Those
    bytes are already ciphertext-only by contract (personal fields are encrypted
    under the school's key), so the record carries no plaintext personal data as
    long as `error` names the problem, never the data (as `UnknownEvent` does).
    Published with the original record's key, so one school's failures stay in order.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    original_topic: str = Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None = Field(description="The original record's key: a school_id or `platform`.")
    error: str = Field(max_length=ERROR_MAX, description="Why it failed; never the input values.")
    error_type: str = Field(min_length=1, max_length=200, description="The exception's class name.")
    failed_at: AwareDatetime
    attempts: int = Field(ge=1, description="How many times the consumer tried.")
    consumer_group: str = Field(min_length=1, max_length=249)
    payload_b64: str = Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$",
                             description="The original record's value, standard base64.")

    @classmethod
    def of(cls, *, topic: str, partition: int, offset: int, key: str | None, value: bytes,
           error: BaseException, attempts: int, consumer_group: str, now: datetime) -> DeadLetterV1:
        """Build the record for a message that failed with `error`.

        Only the text of our own curated errors is kept (`UnknownEvent`, and any error
        class with `safe_message = True`): they name the problem, not the data. Other
        exceptions' text may quote input values (pydantic's does), so only their type is.
        """
        curated = isinstance(error, UnknownEvent) or getattr(error, "safe_message", False)
        reason = str(error) if curated else "message withheld"
        return cls(original_topic=topic, partition=partition, offset=offset, key=key,
                   error=reason[:ERROR_MAX], error_type=type(error).__name__[:200], failed_at=now,
                   attempts=attempts, consumer_group=consumer_group,
                   payload_b64=base64.b64encode(value).decode("ascii"))

    def original_value(self) -> bytes:
        """The original record's value, to replay it onto `original_topic`."""
        return base64.b64decode(self.payload_b64, validate=True)
