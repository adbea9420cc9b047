"""Records that can never be handled (malformed, without an envelope, too large, of a type or
shape nobody handles) are dead-lettered or skipped, and never crash or stall the consumer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaProducer

from servicekit.db.engine import Database
from servicekit.events.handlers import HandlerRegistry
from servicekit.testing.consumer import (
    MiB,
    ThingNotedV1,
    Topics,
    consumed,
    consumer_for,
    dead_letters,
    effect_count_reaches,
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
    unknown = consumed(topics.group, "unknown_type", "consumerit.thing.happened.v9")
    assert unknown == 1
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
