"""The published contracts: models, generated files, the AsyncAPI document and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator, ValidationError
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from contracts import __main__ as cli
from contracts.artifacts import (
    PACKAGE_DIR,
    asyncapi_path,
    expected_files,
    schema_path,
    write_files,
)
from contracts.base import Event
from contracts.catalog import StockRejectedV1, StockReleasedV1, StockReservedV1
from contracts.checks import stale_files
from contracts.identity import UserRegisteredV1
from contracts.notifications import NotificationSentV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1, OrderRejectedV1
from contracts.payments import PaymentFailedV1, PaymentRefundedV1, PaymentSucceededV1
from contracts.registry import EVENT_TYPES, event_model
from contracts.topology import Topology
from contracts.values import OrderLine, StockLine, StockShortfall

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
SAMPLES: dict[str, Event] = {
    UserRegisteredV1.EVENT_TYPE: UserRegisteredV1(
        user_id="usr_1", email="ada@example.com", name="Ada", registered_at=NOW
    ),
    NotificationSentV1.EVENT_TYPE: NotificationSentV1(
        notification_id="ntf_1",
        user_id="usr_1",
        channel="email",
        template="welcome",
        recipient="ada@example.com",
        cause_event_id="evt_1",
        sent_at=NOW,
    ),
    OrderPlacedV1.EVENT_TYPE: OrderPlacedV1(
        order_id="ord_1",
        user_id="usr_1",
        email="ada@example.com",
        items=[OrderLine(product_id="prd_1", quantity=2, unit_price_cents=1250)],
        total_cents=2500,
        currency="EUR",
        payment_method="pm_card_visa",
        placed_at=NOW,
        deadline_at=NOW,
    ),
    OrderConfirmedV1.EVENT_TYPE: OrderConfirmedV1(
        order_id="ord_1",
        user_id="usr_1",
        email="ada@example.com",
        total_cents=2500,
        currency="EUR",
        confirmed_at=NOW,
    ),
    OrderCancelledV1.EVENT_TYPE: OrderCancelledV1(
        order_id="ord_1",
        user_id="usr_1",
        email="ada@example.com",
        reason="timeout",
        total_cents=2500,
        currency="EUR",
        cancelled_at=NOW,
    ),
    OrderRejectedV1.EVENT_TYPE: OrderRejectedV1(
        order_id="ord_1",
        user_id="usr_1",
        email="ada@example.com",
        shortfalls=[
            StockShortfall(product_id="prd_1", reason="out_of_stock", requested=2, available=1)
        ],
        rejected_at=NOW,
    ),
    StockReservedV1.EVENT_TYPE: StockReservedV1(
        order_id="ord_1",
        user_id="usr_1",
        items=[StockLine(product_id="prd_1", quantity=2)],
        total_cents=2500,
        currency="EUR",
        payment_method="pm_card_visa",
        reserved_at=NOW,
    ),
    StockRejectedV1.EVENT_TYPE: StockRejectedV1(
        order_id="ord_1",
        user_id="usr_1",
        shortfalls=[
            StockShortfall(product_id="prd_9", reason="unknown_product", requested=1, available=0)
        ],
        rejected_at=NOW,
    ),
    StockReleasedV1.EVENT_TYPE: StockReleasedV1(
        order_id="ord_1", items=[StockLine(product_id="prd_1", quantity=2)], released_at=NOW
    ),
    PaymentSucceededV1.EVENT_TYPE: PaymentSucceededV1(
        payment_id="pay_1",
        order_id="ord_1",
        user_id="usr_1",
        amount_cents=2500,
        currency="EUR",
        charge_id="ch_1",
        succeeded_at=NOW,
    ),
    PaymentFailedV1.EVENT_TYPE: PaymentFailedV1(
        payment_id="pay_1",
        order_id="ord_1",
        user_id="usr_1",
        amount_cents=2500,
        currency="EUR",
        reason="provider_unavailable",
        failed_at=NOW,
    ),
    PaymentRefundedV1.EVENT_TYPE: PaymentRefundedV1(
        payment_id="pay_1",
        order_id="ord_1",
        user_id="usr_1",
        amount_cents=2500,
        currency="EUR",
        charge_id="ch_1",
        refund_id="re_1",
        refunded_at=NOW,
    ),
}


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(asyncapi_path().read_text(encoding="utf-8"))
    return document


def test_every_event_type_is_registered_and_sampled() -> None:
    # A new event type needs a sample above: the schema tests validate it.
    assert event_model("notifications.notification.sent.v1") is NotificationSentV1
    assert event_model("identity.user.registered.v2") is None
    assert sorted(EVENT_TYPES) == sorted(SAMPLES)


def test_notification_sent_is_keyed_by_its_notification() -> None:
    event = SAMPLES[NotificationSentV1.EVENT_TYPE]
    assert (event.subject(), event.producer(), event.TOPIC) == (
        "ntf_1",
        "notifications",
        "notifications.notification",
    )


@pytest.mark.parametrize(
    ("event_type", "subject", "topic"),
    [
        (OrderPlacedV1.EVENT_TYPE, "ord_1", "orders.order"),
        (StockReservedV1.EVENT_TYPE, "ord_1", "catalog.stock"),
        (PaymentFailedV1.EVENT_TYPE, "pay_1", "payments.payment"),
        (PaymentRefundedV1.EVENT_TYPE, "pay_1", "payments.payment"),
    ],
)
def test_saga_events_are_keyed_by_their_aggregate(
    event_type: str, subject: str, topic: str
) -> None:
    event = SAMPLES[event_type]
    assert (event.subject(), event.TOPIC) == (subject, topic)


def test_nested_values_are_closed_in_the_schema_and_tolerant_when_read() -> None:
    schema = json.loads(schema_path(OrderPlacedV1.EVENT_TYPE).read_text(encoding="utf-8"))
    data = json.loads(SAMPLES[OrderPlacedV1.EVENT_TYPE].model_dump_json())
    data["items"][0]["gift_wrap"] = True
    with pytest.raises(ValidationError, match="Additional properties"):
        Draft202012Validator(schema).validate(data)
    parsed = OrderPlacedV1.model_validate(data)
    assert parsed == SAMPLES[OrderPlacedV1.EVENT_TYPE]


def test_a_lower_case_or_unknown_shaped_currency_is_refused() -> None:
    data = json.loads(SAMPLES[StockReservedV1.EVENT_TYPE].model_dump_json())
    with pytest.raises(PydanticValidationError):
        StockReservedV1.model_validate({**data, "currency": "eur"})


def test_a_consumer_built_for_v1_reads_data_with_an_extra_field() -> None:
    """Tolerant reader: a producer may add an optional field before its consumers move."""
    data = json.loads(SAMPLES[NotificationSentV1.EVENT_TYPE].model_dump_json())
    data["locale"] = "fr"
    parsed = NotificationSentV1.model_validate_json(json.dumps(data))
    assert parsed == SAMPLES[NotificationSentV1.EVENT_TYPE]


def test_generation_is_deterministic(topology: Topology) -> None:
    first = expected_files(EVENT_TYPES, topology)
    assert first == expected_files(EVENT_TYPES, topology)
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in first.values())


def test_the_committed_files_are_fresh(topology: Topology) -> None:
    assert stale_files(expected_files(EVENT_TYPES, topology)) == []


def test_stale_missing_and_left_over_files_are_named(tmp_path: Path, topology: Topology) -> None:
    expected = expected_files(EVENT_TYPES, topology, package_dir=tmp_path)
    assert len(stale_files(expected, tmp_path)) == len(expected)  # all missing
    assert set(write_files(expected, tmp_path)) == set(expected)
    assert write_files(expected, tmp_path) == []  # regenerating changes nothing

    schema_file = schema_path(UserRegisteredV1.EVENT_TYPE, tmp_path)
    schema_file.write_text(schema_file.read_text() + " ", encoding="utf-8")
    leftover = schema_file.with_name("identity.user.registered.v0.json")
    leftover.write_text("{}\n", encoding="utf-8")
    problems = stale_files(expected, tmp_path)
    assert [p.rsplit(" is ", 1)[-1] for p in problems] == [
        "stale: it differs from what the contracts generate",
        "left over: no registered event type produces it",
    ]
    assert "identity.user.registered.v1.json" in problems[0]
    assert set(write_files(expected, tmp_path)) == {schema_file, leftover}
    assert not leftover.exists()


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_event_schemas_are_closed_2020_12_schemas_that_accept_their_events(
    event_type: str,
) -> None:
    schema = json.loads(schema_path(event_type).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:flotilla:event:{event_type}"
    assert schema["title"] == EVENT_TYPES[event_type].__name__
    assert schema["description"]
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)

    data = json.loads(SAMPLES[event_type].model_dump_json())
    validator.validate(data)
    with pytest.raises(ValidationError, match="Additional properties"):
        validator.validate({**data, "unexpected": 1})


def test_asyncapi_has_a_channel_per_topic_carrying_its_event_types(
    asyncapi: dict[str, Any], topology: Topology
) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    channels = asyncapi["channels"]
    assert sorted(channels) == sorted(t.name for t in topology.topics)
    assert all(channel["address"] == name for name, channel in channels.items())
    assert list(channels["identity.user"]["messages"]) == ["identity.user.registered.v1"]
    assert list(channels["notifications.notification"]["messages"]) == [
        "notifications.notification.sent.v1"
    ]
    assert list(channels["orders.order"]["messages"]) == [
        "orders.order.cancelled.v1",
        "orders.order.confirmed.v1",
        "orders.order.placed.v1",
        "orders.order.rejected.v1",
    ]
    # Retry and dead-letter topics carry what their group subscribes to.
    assert list(channels["catalog.dlq"]["messages"]) == list(channels["orders.order"]["messages"])
    assert list(channels["notifications.dlq"]["messages"]) == [
        "identity.user.registered.v1",
        *channels["orders.order"]["messages"],
    ]
    kafka = channels["notifications.dlq"]["bindings"]["kafka"]
    assert kafka["topicConfiguration"]["retention.ms"] == 30 * 24 * 60 * 60 * 1000


def test_asyncapi_operations_send_by_owner_and_receive_by_group(asyncapi: dict[str, Any]) -> None:
    operations = asyncapi["operations"]
    assert operations["identity.send.identity.user"]["action"] == "send"
    receive = operations["notifications.receive.identity.user"]
    assert receive["action"] == "receive"
    assert receive["bindings"]["kafka"]["groupId"]["enum"] == ["notifications"]
    assert "notifications.receive.notifications.retry.2" in operations
    assert "notifications.send.notifications.dlq" in operations
    for operation in operations.values():
        assert _resolve(asyncapi, operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert _resolve(asyncapi, message["$ref"])


def test_asyncapi_messages_describe_payload_and_cloudevents_headers(
    asyncapi: dict[str, Any],
) -> None:
    messages = asyncapi["components"]["messages"]
    assert sorted(messages) == sorted(EVENT_TYPES)
    for event_type, message in messages.items():
        payload = message["payload"]
        assert payload["schemaFormat"] == "application/schema+json;version=draft-07"
        assert (PACKAGE_DIR / payload["schema"]["$ref"]) == schema_path(event_type)
        assert schema_path(event_type).is_file()
        headers_schema = {**message["headers"], "components": asyncapi["components"]}
        validator = Draft7Validator(headers_schema)
        model = EVENT_TYPES[event_type]
        headers = {
            "ce_specversion": "1.0",
            "ce_id": "evt_1",
            "ce_type": event_type,
            "ce_source": f"/{model.producer()}",
            "ce_subject": SAMPLES[event_type].subject(),
            "ce_time": NOW.isoformat(),
            "content-type": "application/json",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "x-flotilla-attempt": "2",
        }
        validator.validate(headers)
        with pytest.raises(ValidationError):
            validator.validate({**headers, "ce_type": "other.thing.happened.v1"})


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_check_command_passes_on_the_repository() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "contracts", "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(": ok")


def test_check_command_fails_naming_stale_files_and_breaking_changes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class BrokenUserRegisteredV1(UserRegisteredV1):
        """A person signed up (now without a name)."""

        name: int = Field(description="No longer text.")  # type: ignore[assignment]

    events = {**EVENT_TYPES, UserRegisteredV1.EVENT_TYPE: BrokenUserRegisteredV1}
    monkeypatch.setattr(cli, "EVENT_TYPES", events)

    assert cli.main(["check"]) == 1
    err = capsys.readouterr().err
    assert "identity.user.registered.v1.json is stale" in err
    assert "asyncapi.yaml is stale" in err
    assert (
        "identity.user.registered.v1 changed incompatibly: `name`: type changed from string to "
        "integer. Publish it as identity.user.registered.v2 beside identity.user.registered.v1"
    ) in err
