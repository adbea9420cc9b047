"""A service's consumer is its group as the topic file declares it: the topics it reads, its
retry tiers and its dead-letter topic come from there and from nowhere else."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.topology import TOPICS_FILE_ENV, ConsumerGroup
from servicekit.db import Database
from servicekit.events import EventConsumer, HandlerRegistry, Outbox

pytestmark = pytest.mark.unit

TOPIC_FILE = """\
defaults:
  partitions: 1
  replication_factor: 1
  retention_ms: 604800000
  cleanup_policy: delete
  min_insync_replicas: 1
topics:
  - {{name: orders.order, owner: orders}}
  - {{name: catalog.stock, owner: catalog}}
groups:
  - name: shipping
    subscribes: {subscribes}
    retry:
      delays_s: {delays}
"""


def _topic_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subscribes: str, delays: str
) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(textwrap.dedent(TOPIC_FILE.format(subscribes=subscribes, delays=delays)))
    monkeypatch.setenv(TOPICS_FILE_ENV, str(path))


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    # Never connected: building a consumer opens nothing.
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    yield Database(engine)
    await engine.dispose()


def _consumer(group: str | ConsumerGroup, database: Database) -> EventConsumer:
    registry = HandlerRegistry()
    return EventConsumer.for_group(
        group,
        registry,
        database=database,
        outbox=Outbox("shipping"),
        bootstrap_servers="127.0.0.1:9",
    )


@pytest.mark.parametrize(
    ("subscribes", "delays"),
    [("[orders.order]", "[2, 10]"), ("[catalog.stock, orders.order]", "[1, 5, 30]")],
)
def test_a_group_s_consumer_reads_exactly_what_the_topic_file_declares(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database: Database,
    subscribes: str,
    delays: str,
) -> None:
    _topic_file(tmp_path, monkeypatch, subscribes, delays)

    consumer = _consumer("shipping", database)

    assert list(consumer.topics) == subscribes.strip("[]").split(", ")
    assert list(consumer.policy.retry_delays_s) == [
        float(d) for d in delays.strip("[]").split(", ")
    ]
    tiers = len(consumer.policy.retry_delays_s)
    assert consumer.retry_topics == tuple(f"shipping.retry.{n}" for n in range(1, tiers + 1))
    assert consumer.dlq_topic == "shipping.dlq"
    assert consumer.subscribed_topics == (*consumer.topics, *consumer.retry_topics)


def test_a_group_the_topic_file_does_not_declare_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Database
) -> None:
    _topic_file(tmp_path, monkeypatch, "[orders.order]", "[2, 10]")
    with pytest.raises(ValueError, match=r"no consumer group 'billing' .*declared: shipping"):
        _consumer("billing", database)


def test_a_test_s_own_group_is_used_as_it_is(database: Database) -> None:
    group = ConsumerGroup.declare("scratch-1", ("scratch.source",), (0.2, 0.5))

    consumer = _consumer(group, database)

    assert consumer.topics == ("scratch.source",)
    assert tuple(consumer.policy.retry_delays_s) == (0.2, 0.5)
    assert consumer.retry_topics == ("scratch-1.retry.1", "scratch-1.retry.2")
    assert consumer.dlq_topic == "scratch-1.dlq"
