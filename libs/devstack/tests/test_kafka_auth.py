"""An authenticated broker (SASL/SCRAM-SHA-512, StandardAuthorizer): strangers are refused,
each principal may do what its grants say and nothing else, and no password reaches a log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from contracts.acls import CLUSTER, Grant
from devstack.kafka import KafkaBroker, TopicSpec
from devstack.kafka_auth import BrokerAuth
from devstack.process import free_port
from devstack.profiles import profile

AUTH = BrokerAuth(
    admin_password="admin-pw-not-a-secret",
    controller_password="controller-pw-not-a-secret",
    users={"orders": "orders-pw-not-a-secret", "spy": "spy-pw-not-a-secret"},
)


GRANTS = {
    "orders": [
        Grant("topic", "orders.order", ("Write", "Describe")),
        Grant("cluster", CLUSTER, ("IdempotentWrite",)),
    ],
    # May produce (idempotently), but not on orders' topic.
    "spy": [Grant("cluster", CLUSTER, ("IdempotentWrite",))],
}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    tmp = tmp_path_factory.mktemp("kafka-auth")
    port = free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    kafka = KafkaBroker(
        data_dir=tmp / "kafka",
        cache_dir=profile("test").cache,
        log_file=tmp / "logs" / "kafka.log",
        pid_file=tmp / "pids" / "kafka.pid",
        port=port,
        controller_port=controller_port,
        auth=AUTH,
    )
    kafka.start()
    kafka.create_topics([TopicSpec("orders.order", partitions=1)])
    assert kafka.sync_acls(GRANTS) == (4, 0)
    assert kafka.sync_acls(GRANTS) == (4, 0)  # again: nothing to do
    yield kafka
    kafka.kill()


async def _send(kafka: KafkaBroker, **options: object) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=5_000,
        **options,
    )
    try:
        await producer.start()  # stopped below even when it fails (a refused login)
        await producer.send_and_wait("orders.order", b"{}", key=b"k")
    finally:
        await producer.stop()


async def test_a_client_without_credentials_is_refused(broker: KafkaBroker) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=3000)
    try:
        with pytest.raises(KafkaError):
            await admin.start()
    finally:
        await admin.close()


async def test_a_wrong_password_is_refused(broker: KafkaBroker) -> None:
    options = {**AUTH.client_options("orders"), "sasl_plain_password": "guess"}
    with pytest.raises(KafkaError):
        await _send(broker, **options)


async def test_a_principal_writes_what_it_is_granted_and_nothing_else(
    broker: KafkaBroker,
) -> None:
    await _send(broker, **AUTH.client_options("orders"))
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(broker, **AUTH.client_options("spy"))


async def test_a_grant_no_longer_generated_is_revoked(broker: KafkaBroker) -> None:
    narrower = {**GRANTS, "orders": [Grant("cluster", CLUSTER, ("IdempotentWrite",))]}
    try:
        assert broker.sync_acls(narrower) == (2, 2)
        deadline = time.monotonic() + 15  # the controller's change reaches the broker shortly
        while True:
            try:
                await _send(broker, **AUTH.client_options("orders"))
            except TopicAuthorizationFailedError:
                break
            assert time.monotonic() < deadline, "orders may still write orders.order"
            await asyncio.sleep(0.2)
    finally:
        assert broker.sync_acls(GRANTS) == (4, 0)


def test_no_password_is_written_to_the_broker_log(broker: KafkaBroker) -> None:
    log = broker.log_file.read_text(errors="replace")
    for secret in (AUTH.admin_password, AUTH.controller_password, *AUTH.users.values()):
        assert secret not in log
    assert broker.config_file.stat().st_mode & 0o077 == 0


def test_a_broker_formatted_without_a_principal_says_to_reset(tmp_path: Path) -> None:
    (tmp_path / "scram-users").write_text("admin\n")
    with pytest.raises(ValueError, match=r"without the SCRAM principals orders, spy.*reset"):
        AUTH.check_formatted(tmp_path, tmp_path / "log")


def test_passwords_that_would_break_the_format_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="'orders'"):
        BrokerAuth("a", "c", {"orders": "pa,ss"})
    assert "pw" not in repr(AUTH)
