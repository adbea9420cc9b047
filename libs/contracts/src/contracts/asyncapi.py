"""The AsyncAPI 3.0.0 document for every topic, built from the registry and the topic file.

One channel per topic (declared, retry and dead-letter); its messages are the event types the
topic carries, each with the CloudEvents binary-mode headers, the record key and a payload that
references the event's committed JSON Schema (`schemas/<event_type>.json`, beside this
document). Operations: the owner sends on its topics; each consumer group receives from the
topics it subscribes to, sends to and receives from its retry topics, and sends to its DLQ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contracts.base import Event
from contracts.topology import ConsumerGroup, TopicSettings, Topology

__all__ = ["ASYNCAPI_VERSION", "PAYLOAD_SCHEMA_FORMAT", "asyncapi_document", "payload_ref"]

ASYNCAPI_VERSION = "3.0.0"
PAYLOAD_SCHEMA_FORMAT = "application/schema+json;version=draft-07"
"""The payloads are JSON Schema documents (pydantic's, within what draft 7 defines)."""
_KAFKA_BINDING = "0.5.0"
# (service, action, topic, summary, consumer group or None) -> adds one operation
_AddOperation = Callable[[str, str, str, str, str | None], None]
_HEADERS = "CloudEventsHeaders"
_DESCRIPTION = """\
Every event Flotilla's services publish. Each record is a CloudEvents 1.0 event in Kafka \
binary mode: attributes in `ce_*` headers, the event's JSON as the value, and the aggregate id \
as the key, so one aggregate's events stay in order. Topics are named `<service>.<aggregate>` \
and written only by that service, through its transactional outbox. Consumer groups are named \
after their service; each has retry topics (`<group>.retry.<n>`) and a dead-letter topic \
(`<group>.dlq`). Consumers are tolerant readers: unknown fields and headers are ignored. A \
breaking change is a new major version (`….v2`), published beside the old one. Every client \
authenticates (SASL/SCRAM-SHA-512) as its service's own principal, whose ACLs let it write only \
its own topics and its group's retry and dead-letter topics, and read only its subscriptions; \
a consumer dead-letters a record whose `ce_type` belongs to another service than the topic's \
owner (reason `type_not_owned_by_topic`)."""


def payload_ref(event_type: str) -> str:
    """Where the message payload's schema lives, relative to the AsyncAPI document."""
    return f"schemas/{event_type}.json"


def asyncapi_document(events: Mapping[str, type[Event]], topology: Topology) -> dict[str, Any]:
    carried = _carried_event_types(events, topology)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "Flotilla events", "version": "1.0.0", "description": _DESCRIPTION},
        "defaultContentType": "application/json",
        "channels": {topic.name: _channel(topic, carried[topic.name]) for topic in topology.topics},
        "operations": _operations(topology, carried),
        "components": {
            "messages": {event_type: _message(model) for event_type, model in events.items()},
            "schemas": {_HEADERS: _cloudevents_headers()},
        },
    }


def _carried_event_types(
    events: Mapping[str, type[Event]], topology: Topology
) -> dict[str, list[str]]:
    carried: dict[str, list[str]] = {topic.name: [] for topic in topology.topics}
    for event_type, model in sorted(events.items()):
        if model.TOPIC in carried:
            carried[model.TOPIC].append(event_type)
    for group in topology.groups:
        redelivered = sorted({et for topic in group.subscribes for et in carried[topic]})
        for topic_name in (*group.retry_topics, group.dlq_topic):
            carried[topic_name] = redelivered
    return carried


def _channel(topic: TopicSettings, event_types: list[str]) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        name: int(value) for name, value in topic.config.items() if name != "cleanup.policy"
    }
    configuration["cleanup.policy"] = topic.config["cleanup.policy"].split(",")
    return {
        "address": topic.name,
        "description": topic.description or f"{topic.name} ({topic.role}).",
        "messages": {et: {"$ref": f"#/components/messages/{et}"} for et in event_types},
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "replicas": topic.replication_factor,
                "topicConfiguration": configuration,
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def _operations(topology: Topology, carried: Mapping[str, list[str]]) -> dict[str, Any]:
    operations: dict[str, Any] = {}

    def add(service: str, action: str, topic: str, summary: str, group: str | None) -> None:
        operation: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [{"$ref": f"#/channels/{topic}/messages/{et}"} for et in carried[topic]],
            "summary": summary,
        }
        if group is not None:
            operation["bindings"] = {
                "kafka": {
                    "groupId": {"type": "string", "enum": [group]},
                    "bindingVersion": _KAFKA_BINDING,
                }
            }
        operations[f"{service}.{action}.{topic}"] = operation

    for topic in topology.topics:
        if topic.role == "stream":
            add(topic.owner, "send", topic.name, f"{topic.owner} publishes (outbox relay).", None)
    for group in topology.groups:
        _group_operations(group, add)
    return operations


def _group_operations(group: ConsumerGroup, add: _AddOperation) -> None:
    name = group.name
    for topic in group.subscribes:
        add(name, "receive", topic, f"Consumer group {name} reads.", name)
    for tier, (topic, delay) in enumerate(
        zip(group.retry_topics, group.retry_delays_s, strict=True), 1
    ):
        add(name, "send", topic, f"{name} moves a failing event to retry tier {tier}.", None)
        add(name, "receive", topic, f"{name} redelivers it {delay:g} s after it was moved.", name)
    add(name, "send", group.dlq_topic, f"{name} dead-letters an event it cannot handle.", None)


def _message(model: type[Event]) -> dict[str, Any]:
    summary = (model.__doc__ or "").strip().splitlines()
    return {
        "name": model.EVENT_TYPE,
        "title": model.__name__,
        "summary": summary[0] if summary else model.EVENT_TYPE,
        "contentType": "application/json",
        "headers": {
            "allOf": [
                {"$ref": f"#/components/schemas/{_HEADERS}"},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"type": "string", "const": model.EVENT_TYPE},
                        "ce_source": {"type": "string", "const": f"/{model.producer()}"},
                    },
                },
            ]
        },
        "payload": {
            "schemaFormat": PAYLOAD_SCHEMA_FORMAT,
            "schema": {"$ref": payload_ref(model.EVENT_TYPE)},
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"The aggregate id: the event's `{model.SUBJECT_FIELD}`.",
                },
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def _cloudevents_headers() -> dict[str, Any]:
    def text(description: str, **more: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **more}

    return {
        "type": "object",
        "description": (
            "CloudEvents 1.0 attributes in Kafka binary mode, plus W3C trace context. Other "
            "headers (retry and dead-letter bookkeeping) may follow and are ignored by readers."
        ),
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_type",
            "ce_source",
            "ce_subject",
            "ce_time",
            "content-type",
        ],
        "properties": {
            "ce_specversion": text("The CloudEvents version.", const="1.0"),
            "ce_id": text("The event id (`evt_…`), unique per event; consumers dedupe on it."),
            "ce_type": text("Event type and major version, e.g. `identity.user.registered.v1`."),
            "ce_source": text("The producing service, `/<service>`."),
            "ce_subject": text("The aggregate id, also the record key."),
            "ce_time": text("When it happened (RFC 3339, UTC).", format="date-time"),
            "ce_dataschema": text(
                "The URL of the event type's JSON Schema, `<schema base URL>/<ce_type>.json`, "
                "where the platform's gateway serves it (`/schemas/`).",
                format="uri",
            ),
            "content-type": text("The value's media type.", const="application/json"),
            "traceparent": text(
                "W3C trace context of the producing transaction.",
                pattern="^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            ),
            "tracestate": text("W3C vendor-specific trace state."),
        },
    }
