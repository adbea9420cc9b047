"""The shape every published event shares.

An event is a fact in the past tense, immutable once published. Its class says which type and
major version it is (`identity.user.registered.v1`), which topic carries it (its producer's
aggregate stream) and which field is the aggregate id (the Kafka record key, so one
aggregate's events stay in order).

Producers' schemas are closed (`additionalProperties: false` in the published JSON Schema),
while consumers are tolerant readers: parsing ignores fields they do not know, so adding an
optional field is a backward-compatible change.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Event"]


class Event(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={"additionalProperties": False},
    )

    EVENT_TYPE: ClassVar[str]
    """`<service>.<aggregate>.<fact>.v<major>`"""
    TOPIC: ClassVar[str]
    """`<service>.<aggregate>`: the producer-owned stream this event is published on."""
    SUBJECT_FIELD: ClassVar[str]
    """The field holding the aggregate id: the record key and CloudEvents `subject`."""

    def subject(self) -> str:
        value: Any = getattr(self, self.SUBJECT_FIELD)
        return str(value)

    @classmethod
    def producer(cls) -> str:
        return cls.EVENT_TYPE.split(".", 1)[0]
