"""The topic file: the repository's own, derived retry/DLQ topics, and validation errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from contracts import topology as topology_module
from contracts.topology import (
    PACKAGED_TOPICS_FILE,
    TOPICS_FILE_ENV,
    ConsumerGroup,
    TopicSettings,
    TopologyError,
    load_topology,
    topics_file,
)

pytestmark = pytest.mark.unit

DAY_MS = 24 * 60 * 60 * 1000
# libs/contracts/tests/test_topology.py -> the repository root, three levels up
REPOSITORY_TOPIC_FILE = Path(__file__).resolve().parents[3] / "deploy" / "topics.yaml"

VALID = """\
defaults:
  partitions: 3
  replication_factor: 1
  retention_ms: 604800000
  cleanup_policy: delete
  min_insync_replicas: 1
topics:
  - name: orders.order
    owner: orders
    partitions: 6
  - name: stock.item
    owner: stock
    cleanup_policy: compact
groups:
  - name: stock
    subscribes: [orders.order]
    retry:
      delays_s: [1, 5.5]
      partitions: 1
    dlq:
      retention_ms: 2592000000
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(TopologyError) as raised:
        load_topology(write(tmp_path, text))
    return str(raised.value)


def test_public_surface() -> None:
    assert sorted(topology_module.__all__) == [
        "ConsumerGroup",
        "PACKAGED_TOPICS_FILE",
        "TOPICS_FILE_ENV",
        "TopicRole",
        "TopicSettings",
        "Topology",
        "TopologyError",
        "load_topology",
        "topics_file",
    ]


def test_the_repository_topic_file() -> None:
    topology = load_topology()

    # In the owners' slot order: the file's topics and groups come from the services' manifests.
    assert [t.name for t in topology.topics if t.role == "stream"] == [
        "identity.user",
        "notifications.notification",
        "payments.payment",
        "catalog.stock",
        "orders.order",
    ]
    assert [g.name for g in topology.groups] == ["notifications", "payments", "catalog", "orders"]
    assert topology.topic("identity.user") == TopicSettings(
        name="identity.user",
        partitions=3,
        replication_factor=1,
        config={
            "cleanup.policy": "delete",
            "min.insync.replicas": "1",
            "retention.ms": str(7 * DAY_MS),
        },
        owner="identity",
        role="stream",
        description=topology.topic("identity.user").description,
    )
    assert topology.topic("notifications.dlq").config["retention.ms"] == str(30 * DAY_MS)
    assert topology.topic("notifications.retry.1").config["retention.ms"] == str(7 * DAY_MS)
    assert topology.group("notifications") == ConsumerGroup(
        name="notifications",
        subscribes=("identity.user", "orders.order"),
        retry_delays_s=(2.0, 10.0),
        retry_topics=("notifications.retry.1", "notifications.retry.2"),
        dlq_topic="notifications.dlq",
    )
    assert topology.group("orders").subscribes == ("catalog.stock", "payments.payment")
    # Payments calls the psp: its retry tiers outlast a ~30 s provider outage.
    assert sum(topology.group("payments").retry_delays_s) >= 30


def test_overrides_apply_to_declared_and_derived_topics(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, VALID))

    assert topology.topic("orders.order").partitions == 6
    assert topology.topic("stock.item").config["cleanup.policy"] == "compact"
    retry = topology.topic("stock.retry.2")
    assert (retry.partitions, retry.owner, retry.role) == (1, "stock", "retry")
    dlq = topology.topic("stock.dlq")
    assert (dlq.partitions, dlq.config["retention.ms"], dlq.role) == (3, "2592000000", "dlq")
    assert topology.group("stock").retry_delays_s == (1.0, 5.5)


def test_a_group_without_retry_tiers_has_only_a_dlq(tmp_path: Path) -> None:
    text = VALID.split("    retry:")[0]
    group = load_topology(write(tmp_path, text)).group("stock")
    assert (group.retry_topics, group.retry_delays_s, group.dlq_topic) == ((), (), "stock.dlq")


def test_unknown_group_names_the_declared_ones(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"no consumer group 'billing'.*declared: stock"):
        load_topology(write(tmp_path, VALID)).group("billing")


def test_env_overrides_the_default_file_and_an_explicit_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = write(tmp_path, VALID)
    monkeypatch.setenv(TOPICS_FILE_ENV, str(from_env))
    assert topics_file() == from_env
    assert load_topology().group("stock").subscribes == ("orders.order",)

    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(VALID.replace("orders", "billing"), encoding="utf-8")
    assert [g.subscribes for g in load_topology(explicit).groups] == [("billing.order",)]


def test_without_the_repository_the_package_s_copy_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed package (a service's image) has no deploy/: it reads the copy `make
    contracts` keeps in the package, which declares what the repository's file declares."""
    monkeypatch.delenv(TOPICS_FILE_ENV, raising=False)
    monkeypatch.setattr(topology_module, "_SOURCE_TREE_FILE", tmp_path / "no-such-repo.yaml")

    assert topics_file() == PACKAGED_TOPICS_FILE
    assert load_topology() == load_topology(REPOSITORY_TOPIC_FILE)


def test_a_test_s_own_group_gets_the_names_the_file_would_give_it(tmp_path: Path) -> None:
    declared = load_topology(write(tmp_path, VALID)).group("stock")
    assert ConsumerGroup.declare("stock", declared.subscribes, declared.retry_delays_s) == declared


def test_unknown_keys_are_refused_with_their_entry(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("    partitions: 6", "    partitons: 6"))
    assert "topics[0] (orders.order).partitons: unknown key" in message

    message = error_for(tmp_path, VALID.replace("      delays_s:", "      delay_s:"))
    assert "groups[0] (stock).retry.delay_s: unknown key" in message
    assert "groups[0] (stock).retry.delays_s: missing key" in message

    assert "brokers: unknown key" in error_for(tmp_path, VALID + "brokers: 3\n")


def test_wrong_value_types_are_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("partitions: 6", "partitions: '6'"))
    assert "topics[0] (orders.order).partitions: Input should be a valid integer" in message
    message = error_for(tmp_path, VALID.replace("cleanup_policy: compact", "cleanup_policy: gc"))
    assert "topics[1] (stock.item).cleanup_policy" in message


def test_a_group_subscribing_to_an_undeclared_topic_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("[orders.order]", "[orders.orders]"))
    expected = "consumer group 'stock' subscribes to 'orders.orders', which is not a declared topic"
    assert expected in message


@pytest.mark.parametrize("name", ["orders", "Orders.order", "orders.order.placed", "orders-x.y"])
def test_topic_names_must_be_service_dot_aggregate(tmp_path: Path, name: str) -> None:
    message = error_for(tmp_path, VALID.replace("name: stock.item", f"name: {name}"))
    assert f"topic '{name}' is not named `<service>.<aggregate>`" in message


def test_a_topic_is_owned_by_the_service_it_is_named_after(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("owner: stock", "owner: orders"))
    assert "topic 'stock.item' has owner 'orders'" in message


def test_consumer_groups_are_named_after_a_service(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("name: stock\n", "name: stock-workers\n"))
    assert "consumer group 'stock-workers' is not named after a service" in message


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    duplicate_topic = VALID.replace("  - name: stock.item", "  - name: orders.order")
    duplicate_topic = duplicate_topic.replace("owner: stock", "owner: orders")
    assert "topic 'orders.order' is declared twice" in error_for(tmp_path, duplicate_topic)

    duplicate_group = VALID + "  - name: stock\n    subscribes: [orders.order]\n"
    assert "consumer group 'stock' is declared twice" in error_for(tmp_path, duplicate_group)


def test_derived_topics_are_not_declared_by_hand(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("stock.item", "stock.dlq"))
    assert "topic 'stock.dlq' is derived from consumer group 'stock'; do not declare it" in message


def test_retry_delays_must_grow(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("[1, 5.5]", "[5, 5]"))
    assert "consumer group 'stock': retry delays must grow" in message


def test_min_insync_replicas_cannot_exceed_the_replication_factor(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace("min_insync_replicas: 1", "min_insync_replicas: 2"))
    assert "topic 'orders.order': min.insync.replicas 2 exceeds its replication factor 1" in message


def test_a_missing_or_malformed_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="no topic file there"):
        load_topology(tmp_path / "absent.yaml")
    assert "not valid YAML" in error_for(tmp_path, "topics: [")
    assert "defaults: missing key" in error_for(tmp_path, "topics: []\n")
