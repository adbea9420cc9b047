"""What services' tests share: tokens signed by a test key ring and an in-process client that
verifies them (`tokens`), reading what reached Kafka (`events`), and for the fast tier
(`make test-unit`) in-memory doubles of the outbox and the consumer (`doubles`, each held to
the real one by contract tests), a guard that refuses the network (`network`) and a real HTTP
server for an app (`server`)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicekit.testing.doubles import (
        EventHarness,
        OutboxRecorder,
        RecordedEvent,
        event_context,
    )
    from servicekit.testing.events import Record, committed_offset, eventually, read_topic
    from servicekit.testing.network import NetworkRefused, refuse_network
    from servicekit.testing.server import serving
    from servicekit.testing.tokens import AUDIENCE, ISSUER, bearer, in_process_client, new_key_ring

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "EventHarness",
    "NetworkRefused",
    "OutboxRecorder",
    "Record",
    "RecordedEvent",
    "bearer",
    "committed_offset",
    "event_context",
    "eventually",
    "in_process_client",
    "new_key_ring",
    "read_topic",
    "refuse_network",
    "serving",
]

if not TYPE_CHECKING:
    from servicekit._exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "servicekit.testing.doubles": [
                "EventHarness",
                "OutboxRecorder",
                "RecordedEvent",
                "event_context",
            ],
            "servicekit.testing.network": ["NetworkRefused", "refuse_network"],
            "servicekit.testing.server": ["serving"],
            "servicekit.testing.events": ["Record", "committed_offset", "eventually", "read_topic"],
            "servicekit.testing.tokens": [
                "AUDIENCE",
                "ISSUER",
                "bearer",
                "in_process_client",
                "new_key_ring",
            ],
        },
    )
