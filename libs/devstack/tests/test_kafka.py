"""A real single-node Kafka broker: start, create topics, produce and consume, stop."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devstack import kafka as kafka_module
from devstack.kafka import KafkaBroker, TopicSpec
from devstack.process import ProcessError, free_port
from devstack.profiles import profile

TOPIC = "devstack.test.events"


def _port_is_free(port: int) -> bool:
    """Nothing listens and a server could bind it (TIME_WAIT left by closed connections is ok)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    port = free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    kafka = KafkaBroker(
        data_dir=tmp_path / "kafka",
        cache_dir=profile("test").cache,  # shared: jars are fetched once per machine
        log_file=tmp_path / "logs" / "kafka.log",
        pid_file=tmp_path / "pids" / "kafka.pid",
        port=port,
        controller_port=controller_port,
    )
    yield kafka
    kafka.kill()


async def _produce_and_consume(kafka: KafkaBroker) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(TOPIC, b"hello", key=b"k1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id="devstack-test",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (record.topic, record.partition, record.offset) == (TOPIC, meta.partition, meta.offset)
    assert (record.key, record.value) == (b"k1", b"hello")


async def _partitions(kafka: KafkaBroker) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if not t["is_internal"]}


async def test_broker_lifecycle(broker: KafkaBroker, tmp_path: Path) -> None:
    lib = broker.ensure_jars()
    assert lib == broker.lib_dir
    assert any(lib.glob("kafka_2.13-4.3.1.jar"))
    assert broker.ensure_jars() == lib  # cached: a no-op

    broker.start()
    broker.start()  # a no-op while running
    assert broker.is_running()
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
    spec = TopicSpec(TOPIC, partitions=2, config={"retention.ms": "3600000"})
    broker.create_topics([spec])
    # Existing topics are left alone, even when the spec differs.
    broker.create_topics([TopicSpec(TOPIC, partitions=5), TopicSpec(f"{TOPIC}.other")])
    assert await _partitions(broker) == {TOPIC: 2, f"{TOPIC}.other": 3}

    await _produce_and_consume(broker)

    broker.kill()  # a crash: the next start recovers the same cluster (no second format)
    assert not broker.is_running()
    broker.start()
    assert await _partitions(broker) == {TOPIC: 2, f"{TOPIC}.other": 3}
    pid = int((tmp_path / "pids" / "kafka.pid").read_text())

    broker.stop()
    assert not broker.is_running()
    assert not _alive(pid)
    assert _port_is_free(broker.port)
    assert _port_is_free(broker.controller_port)
    broker.stop()  # a no-op when stopped


def test_crash_at_start_reports_the_log(broker: KafkaBroker) -> None:
    with socket.socket() as squatter:  # the broker's port is taken: it must fail loudly
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", broker.port))
        squatter.listen()
        with pytest.raises(ProcessError, match="Kafka exited while starting"):
            broker.start(timeout=60)
    assert not broker.is_running()


def test_failed_fetch_leaves_no_partial_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text(
        kafka_module.POM_FILE.read_text().replace(
            "</dependencies>",
            "<dependency><groupId>dev.flotilla.missing</groupId>"
            "<artifactId>does-not-exist</artifactId><version>0</version></dependency>"
            "</dependencies>",
        )
    )
    monkeypatch.setattr(kafka_module, "POM_FILE", pom)
    broker = KafkaBroker(
        data_dir=tmp_path / "kafka",
        cache_dir=tmp_path / "cache",
        log_file=tmp_path / "kafka.log",
        pid_file=tmp_path / "kafka.pid",
        port=free_port(),
        controller_port=free_port(),
    )
    with pytest.raises(ProcessError, match="does-not-exist"):
        broker.ensure_jars()
    assert not broker.lib_dir.exists()
    # Only the lock file of the fetch remains: no half-filled folder to mistake for the jars.
    assert [p.name for p in broker.lib_dir.parent.iterdir()] == [".lib.lock"]
