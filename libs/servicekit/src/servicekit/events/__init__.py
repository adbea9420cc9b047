"""Events between services: written to the outbox in the request's transaction (`Outbox`,
`OutboxDep`), published by the relay (`Publishing`), consumed once per group by
`EventConsumer` into handlers registered on a `HandlerRegistry`; `events/processing.py`
draws the whole flow."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicekit.events.consumer import EventConsumer
    from servicekit.events.dependencies import OutboxDep
    from servicekit.events.envelope import EventEnvelope
    from servicekit.events.handlers import (
        EventContext,
        HandlerRegistry,
        PermanentError,
        TransientError,
    )
    from servicekit.events.inbox_retention import InboxRetentionSettings, inbox_purger
    from servicekit.events.kafka_security import KafkaSecurity
    from servicekit.events.outbox import Outbox
    from servicekit.events.publishing import Publishing
    from servicekit.events.tables import (
        OUTBOX,
        add_event_tables,
        create_event_tables,
        create_outbox_publication_indexes,
        drop_event_tables,
        drop_outbox_publication_indexes,
    )

__all__ = [
    "OUTBOX",
    "EventConsumer",
    "EventContext",
    "EventEnvelope",
    "HandlerRegistry",
    "InboxRetentionSettings",
    "KafkaSecurity",
    "Outbox",
    "OutboxDep",
    "PermanentError",
    "Publishing",
    "TransientError",
    "add_event_tables",
    "create_event_tables",
    "create_outbox_publication_indexes",
    "drop_event_tables",
    "drop_outbox_publication_indexes",
    "inbox_purger",
]

if not TYPE_CHECKING:
    from servicekit._exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "servicekit.events.consumer": ["EventConsumer"],
            "servicekit.events.dependencies": ["OutboxDep"],
            "servicekit.events.envelope": ["EventEnvelope"],
            "servicekit.events.inbox_retention": ["InboxRetentionSettings", "inbox_purger"],
            "servicekit.events.handlers": [
                "EventContext",
                "HandlerRegistry",
                "PermanentError",
                "TransientError",
            ],
            "servicekit.events.kafka_security": ["KafkaSecurity"],
            "servicekit.events.outbox": ["Outbox"],
            "servicekit.events.publishing": ["Publishing"],
            "servicekit.events.tables": [
                "OUTBOX",
                "add_event_tables",
                "create_event_tables",
                "create_outbox_publication_indexes",
                "drop_event_tables",
                "drop_outbox_publication_indexes",
            ],
        },
    )
