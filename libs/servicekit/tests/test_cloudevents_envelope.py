"""The CloudEvents binary-mode envelope: what a record's headers carry, and what a reader keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from servicekit.events.envelope import EventEnvelope
from servicekit.events.outbox import Outbox

pytestmark = pytest.mark.unit


def _envelope(**more: object) -> EventEnvelope:
    return EventEnvelope(
        id="evt_1",
        type="identity.user.registered.v1",
        source="/identity",
        subject="usr_1",
        time=datetime(2026, 12, 4, tzinfo=UTC),
        data=b"{}",
        **more,  # type: ignore[arg-type]
    )


def test_dataschema_travels_as_the_ce_dataschema_header_and_back() -> None:
    url = "http://127.0.0.1:8080/schemas/identity.user.registered.v1.json"
    envelope = _envelope(dataschema=url)
    headers = envelope.kafka_headers()
    assert ("ce_dataschema", url.encode()) in headers
    read = EventEnvelope.from_kafka(envelope.key, envelope.data, headers)
    assert read.dataschema == url
    assert "ce_dataschema" not in read.extensions


def test_without_a_schema_base_url_no_ce_dataschema_header_is_sent() -> None:
    headers = dict(_envelope().kafka_headers())
    assert "ce_dataschema" not in headers
    assert EventEnvelope.from_kafka(b"usr_1", b"{}", list(headers.items())).dataschema is None


def test_the_outbox_names_each_event_types_schema_under_its_base_url() -> None:
    outbox = Outbox("identity", "https://shop.example.com/schemas/")
    assert outbox.dataschema_for("identity.user.registered.v1") == (
        "https://shop.example.com/schemas/identity.user.registered.v1.json"
    )
    assert Outbox("identity").dataschema_for("identity.user.registered.v1") is None
