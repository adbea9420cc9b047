"""The broker's metrics agent: fetched once, serving the broker's series on loopback, and a
taken port fails the broker's start loudly."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.kafka import KafkaBroker
from devstack.kafka_metrics import JMX_EXPORTER_VERSION, agent_jar
from devstack.process import ProcessError, free_port
from devstack.profiles import profile

CACHE = profile("test").cache  # shared: the agent is fetched once per machine


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    port, controller_port, metrics_port = sorted(ports)
    kafka = KafkaBroker(
        data_dir=tmp_path / "kafka",
        cache_dir=CACHE,
        log_file=tmp_path / "logs" / "kafka.log",
        pid_file=tmp_path / "pids" / "kafka.pid",
        port=port,
        controller_port=controller_port,
        metrics_port=metrics_port,
    )
    yield kafka
    kafka.kill()


def test_the_agent_is_fetched_once_into_the_cache() -> None:
    jar = agent_jar(CACHE)
    assert jar.name == f"jmx_prometheus_javaagent-{JMX_EXPORTER_VERSION}.jar"
    assert jar.is_file()
    modified = jar.stat().st_mtime_ns
    assert agent_jar(CACHE) == jar  # cached: a no-op
    assert jar.stat().st_mtime_ns == modified


def test_the_broker_serves_its_metrics_on_loopback(broker: KafkaBroker) -> None:
    broker.start()
    assert broker.metrics_url == f"http://127.0.0.1:{broker.metrics_port}/metrics"
    text = httpx.get(broker.metrics_url, timeout=10.0, trust_env=False).raise_for_status().text
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    # One combined KRaft node: it is the active controller, and nothing is under-replicated.
    assert float(samples["kafka_controller_kafkacontroller_activecontrollercount"]) == 1
    assert float(samples["kafka_server_replicamanager_underreplicatedpartitions"]) == 0
    assert "kafka_server_brokertopicmetrics_messagesin_total" in samples
    assert 'jvm_memory_used_bytes{area="heap"}' in samples


def test_a_taken_metrics_port_fails_the_start_with_the_log(broker: KafkaBroker) -> None:
    assert broker.metrics_port is not None
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", broker.metrics_port))
        squatter.listen()
        with pytest.raises(ProcessError, match="Kafka exited while starting") as failure:
            broker.start(timeout=60)
    assert "BindException" in str(failure.value)
    assert not broker.is_running()
