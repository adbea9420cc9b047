"""Records that can never be handled (malformed, without an envelope, too large, of a type or
shape nobody handles) are dead-lettered or skipped, and never crash or stall the consumer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from servicekit.db.engine import Database
from servicekit.events.handlers import HandlerRegistry
from servicekit.testing.consumer import (
    MiB,
    ThingHappenedV1,
    ThingNotedV1,
    Topics,
    consumed,
    consumer_for,
    dead_letters,
    effect_count_reaches,
    effects,
    envelope_of,
    no_op,
    publish,
    recording_handler,
    running,
    thing,
)


async def test_poison_records_never_crash_or_stall_the_consumer(
    make_topics: Callable[..., Topics], database: Database, producer: AIOKafkaProducer
) -> None:
    topics = make_topics(big=True)
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    malformed = envelope_of(thing(1))
    offsets = {
        "malformed": await publish(
            producer, topics.source, malformed, value=b'{"thing_id": "x", "seq": '
        ),
        "headerless": await publish(
            producer, topics.source, malformed, headers=[("content-type", b"application/json")]
        ),
        "v9": await publish(
            producer,
            topics.source,
            envelope_of(thing(3)),
            headers=[
                (k, b"consumerit.thing.happened.v9" if k == "ce_type" else v)
                for k, v in envelope_of(thing(3)).kafka_headers()
            ],
        ),
        "huge": await publish(
            producer,
            topics.source,
            envelope_of(thing(4)),
            value=b'{"pad": "' + b"x" * (3 * MiB // 2) + b'"}',
        ),
        "wrong shape": await publish(
            producer, topics.source, envelope_of(thing(5)), value=b'{"seq": "five"}'
        ),
    }
    good = envelope_of(thing(6))
    await publish(producer, topics.source, good)

    async with running(consumer_for(topics, database, registry)):
        rows = await effect_count_reaches(database, topics.group, 1)
        letters = await dead_letters(topics, 4)

    assert [row.event_id for row in rows] == [good.id]
    by_offset = {int(letter.header("flotilla_original_offset")): letter for letter in letters}
    assert set(by_offset) == {
        offsets[name] for name in ("malformed", "headerless", "huge", "wrong shape")
    }
    reasons = {
        name: by_offset[offsets[name]].reason
        for name in ("malformed", "headerless", "huge", "wrong shape")
    }
    assert reasons == {
        "malformed": "invalid_payload",
        "headerless": "invalid_envelope",
        "huge": "too_large",
        "wrong shape": "invalid_payload",
    }
    bad_json = by_offset[offsets["malformed"]]
    assert bad_json.event_id == malformed.id
    assert bad_json.value == b'{"thing_id": "x", "seq": '  # kept verbatim
    assert "Invalid JSON" in bad_json.header("flotilla_error_message")
    assert bad_json.header("flotilla_error_type") == "InvalidPayload"
    assert bad_json.header("flotilla_original_topic") == topics.source
    assert bad_json.header("flotilla_original_partition") == "0"
    assert bad_json.header("flotilla_consumer_group") == topics.group
    assert bad_json.header("flotilla_attempts") == "0"
    datetime.fromisoformat(bad_json.failed_at)
    assert "ce_specversion" in by_offset[offsets["headerless"]].header("flotilla_error_message")
    assert by_offset[offsets["headerless"]].header("flotilla_error_type") == "InvalidEnvelope"
    # Too big for the DLQ topic itself (1 MiB): kept without its value, and nothing stalled.
    huge = by_offset[offsets["huge"]]
    assert huge.value == b""
    assert int(huge.header("flotilla_payload_omitted")) > MiB
    # Labelled `unknown`, not by the invented type: the label set stays bounded.
    assert consumed(topics.group, "unknown_type", "unknown") == 1
    assert consumed(topics.group, "unknown_type", "consumerit.thing.happened.v9") == 0
    assert consumed(topics.group, "invalid") == 3  # the headerless one has no readable type


async def test_unknown_types_can_be_dead_lettered_instead_of_skipped(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    note = envelope_of(ThingNotedV1(thing_id="t"))
    await publish(producer, topics.source, note)
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    async with running(consumer_for(topics, database, registry, unknown_types="dlq")):
        [letter] = await dead_letters(topics, 1)
    assert letter.reason == "unknown_type"
    assert letter.event_id == note.id


async def test_a_type_the_topic_owner_does_not_own_is_dead_lettered_not_handled(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    """Only a topic's owner publishes on it: a `consumerit.*` event on a topic `payments` owns
    is a forgery (or a misrouted event), even though a handler for its type exists."""
    forged = envelope_of(thing(1))
    await publish(producer, topics.source, forged)
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    owners = {topics.source: "payments"}
    async with running(consumer_for(topics, database, registry, topic_owners=owners)):
        [letter] = await dead_letters(topics, 1)
    assert letter.event_id == forged.id
    assert letter.reason == "type_not_owned_by_topic"
    assert letter.header("flotilla_error_type") == "ForeignEventType"
    assert "payments" in letter.header("flotilla_error_message")
    assert await effects(database, topics.group) == []
    assert consumed(topics.group, "invalid") == 1


async def test_metric_labels_stay_bounded_under_random_types(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    for n in range(40):
        invented = envelope_of(thing(n))
        headers = [
            (k, f"consumerit.x{uuid.uuid4().hex}.v1".encode() if k == "ce_type" else v)
            for k, v in invented.kafka_headers()
        ]
        await publish(producer, topics.source, invented, headers=headers)
    last = envelope_of(thing(99))
    await publish(producer, topics.source, last)
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    async with running(consumer_for(topics, database, registry)):
        await effect_count_reaches(database, topics.group, 1)
    labels = {
        sample.labels["event_type"]
        for metric in REGISTRY.collect()
        if metric.name in ("flotilla_events_consumed", "flotilla_event_processing_duration_seconds")
        for sample in metric.samples
        if sample.labels.get("group") == topics.group
    }
    assert labels == {"unknown", ThingHappenedV1.EVENT_TYPE}
    assert consumed(topics.group, "unknown_type", "unknown") == 40
