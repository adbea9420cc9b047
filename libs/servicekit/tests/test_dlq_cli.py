"""`python -m servicekit.dlq`, run as operators run it, against the test stack's real Kafka.

The letters are written by the consumer's own `Forwarder`, exactly as a failing consumer would
(the consumer-driven path, dead-letter → fix → redrive → processed once, is in
consumer/test_retries_and_dlq.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.base import Event
from devstack.kafka import TopicSpec
from devstack.stack import Stack
from servicekit.events.envelope import EventEnvelope
from servicekit.events.forwarding import Forwarder
from servicekit.events.retry import Origin, header_values
from servicekit.ids import new_id


class ParcelLostV1(Event):
    EVENT_TYPE: ClassVar[str] = "dlqit.parcel.lost.v1"
    TOPIC: ClassVar[str] = "dlqit.parcel"
    SUBJECT_FIELD: ClassVar[str] = "parcel_id"

    parcel_id: str
    note: str


class Group:
    def __init__(self, stack: Stack) -> None:
        self.name = f"dlqit-{uuid.uuid4().hex[:10]}"
        self.source = f"dlqit.parcel.{uuid.uuid4().hex[:10]}"
        self.retry_1 = f"{self.name}.retry.1"
        self.dlq = f"{self.name}.dlq"
        self.servers = stack.kafka.bootstrap_servers
        self.options = stack.kafka.client_options()
        stack.kafka.create_topics(
            [TopicSpec(name, partitions=1) for name in (self.source, self.retry_1, self.dlq)]
        )


@pytest.fixture(autouse=True)
def _cli_authenticates(monkeypatch: pytest.MonkeyPatch, kafka_env: dict[str, str]) -> None:
    """The CLI (a subprocess, or in-process) reads its Kafka credentials from the
    environment, as it does in a service's pod."""
    for name, value in kafka_env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def group(test_stack: Stack) -> Group:
    return Group(test_stack)


@pytest.fixture(scope="module")
async def producer(test_stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **test_stack.kafka.client_options(),
    )
    await producer.start()
    yield producer
    await producer.stop()


async def dead_letter(
    producer: AIOKafkaProducer, group: Group, note: str, offset: int
) -> EventEnvelope:
    event = ParcelLostV1(parcel_id=f"prc-{offset}", note=note)
    envelope = EventEnvelope(
        id=new_id("evt"),
        type=event.EVENT_TYPE,
        source="/dlq-it",
        subject=event.subject(),
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
    )
    forwarder = Forwarder(producer, group=group.name, dlq_topic=group.dlq)
    await forwarder.to_dlq(
        key=envelope.key,
        value=envelope.data,
        headers=envelope.kafka_headers(),
        origin=Origin(group.source, 0, offset),
        reason="retries_exhausted",
        error=RuntimeError(f"could not handle {note}"),
        attempts=9,
    )
    return envelope


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "servicekit.dlq",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def records(group: Group, topic: str) -> list[tuple[bytes | None, dict[str, str]]]:
    """Everything on a one-partition topic, read to its end offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=group.servers, enable_auto_commit=False, **group.options
    )
    found: list[tuple[bytes | None, dict[str, str]]] = []
    try:
        await consumer.start()
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            found += [(record.value, header_values(record.headers)) for record in batch.get(tp, [])]
    finally:
        await consumer.stop()
    return found


async def test_list_and_show_describe_the_groups_dead_letters(
    group: Group, producer: AIOKafkaProducer
) -> None:
    first = await dead_letter(producer, group, "first", offset=7)
    second = await dead_letter(producer, group, "second", offset=8)
    where = ["--group", group.name, "--bootstrap-servers", group.servers]

    code, out, err = await cli("list", *where)
    assert (code, err) == (0, "")
    header, line_1, line_2, summary = out.strip().splitlines()
    assert header.split() == [
        "POSITION",
        "EVENT_ID",
        "TYPE",
        "ORIGINAL_TOPIC",
        "REASON",
        "FAILED_AT",
        "STATUS",
    ]
    assert line_1.split()[:5] == [
        "0:0",
        first.id,
        ParcelLostV1.EVENT_TYPE,
        group.source,
        "retries_exhausted",
    ]
    assert line_1.split()[-1] == "pending"
    assert second.id in line_2
    assert summary == "2 dead letter(s), 2 not redriven"

    code, out, _ = await cli("list", *where, "--limit", "1")
    assert code == 0
    assert second.id not in out
    assert "showing the first 1" in out

    code, out, err = await cli("show", *where, "--event-id", second.id)
    assert (code, err) == (0, "")
    assert "position   0:1" in out
    assert f"  ce_id: {second.id}" in out
    assert "  flotilla_error_message: could not handle second" in out
    assert f"  flotilla_original_topic: {group.source}" in out
    assert "  flotilla_original_offset: 8" in out
    payload = out.split("payload\n", 1)[1]
    assert json.loads(payload) == {"parcel_id": "prc-8", "note": "second"}
    assert '\n  "note": "second"' in payload  # pretty-printed

    code, out, _ = await cli("show", *where, "--offset", "0:0")
    assert code == 0
    assert first.id in out


async def test_redrive_sends_each_letter_back_to_its_group_once(
    group: Group, producer: AIOKafkaProducer
) -> None:
    letter = await dead_letter(producer, group, "lost", offset=3)
    other = await dead_letter(producer, group, "also lost", offset=4)
    where = ["--group", group.name, "--bootstrap-servers", group.servers]

    code, out, _ = await cli("redrive", *where, "--event-id", letter.id, "--dry-run")
    assert code == 0
    assert f"would redrive 0:0 {letter.id}" in out
    assert "nothing sent" in out
    assert await records(group, group.retry_1) == []

    code, out, _ = await cli("redrive", *where, "--event-id", letter.id)
    assert code == 0
    assert f"redriven 0:0 {letter.id}" in out
    [(value, headers)] = await records(group, group.retry_1)
    assert value == letter.data
    assert headers["ce_id"] == letter.id
    assert headers["ce_type"] == ParcelLostV1.EVENT_TYPE
    assert headers["flotilla_attempts"] == "0"
    assert int(headers["flotilla_not_before"]) <= datetime.now(UTC).timestamp() * 1000
    assert headers["flotilla_original_topic"] == group.source
    assert headers["flotilla_original_offset"] == "3"
    assert headers["flotilla_redriven_from"] == f"{group.dlq}:0:0"
    assert "flotilla_dlq_reason" not in headers
    assert "flotilla_error_message" not in headers
    assert await records(group, group.source) == []  # other groups never see it

    code, out, _ = await cli("redrive", *where, "--event-id", letter.id)
    assert code == 0
    assert "nothing to redrive" in out
    assert "--again" in out
    assert len(await records(group, group.retry_1)) == 1

    code, out, _ = await cli("list", *where)
    assert code == 0
    assert "1 not redriven" in out
    [listed] = [line for line in out.splitlines() if letter.id in line]
    assert listed.split()[-2] == "redriven"

    code, out, _ = await cli("redrive", *where)  # all pending: only the other one
    assert code == 0
    assert other.id in out
    assert f"redriven 0:0 {letter.id}" not in out
    code, out, _ = await cli("redrive", *where, "--offset", "0", "--again")
    assert code == 0
    assert f"redriven 0:0 {letter.id}" in out
    assert len(await records(group, group.retry_1)) == 3


async def test_problems_are_one_line_errors_with_a_non_zero_exit(group: Group) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]

    cases = {
        ("list", "--group", group.name, "--bootstrap-servers", f"127.0.0.1:{free_port}"): (
            1,
            "cannot reach Kafka",
        ),
        ("list", "--group", "nobody-has-this-group", "--bootstrap-servers", group.servers): (
            1,
            "unknown group 'nobody-has-this-group'",
        ),
        ("show", "--group", group.name, "--bootstrap-servers", group.servers): (
            1,
            "name a letter with --event-id or --offset",
        ),
        (
            "show",
            "--group",
            group.name,
            "--bootstrap-servers",
            group.servers,
            "--event-id",
            "evt_nope",
        ): (1, "no dead letter with event id 'evt_nope'"),
        ("redrive", "--bootstrap-servers", group.servers): (2, "--group"),
    }
    for args, (expected_code, message) in cases.items():
        code, out, err = await cli(*args)
        assert code == expected_code, (args, out, err)
        assert message in err
        assert "Traceback" not in err + out
