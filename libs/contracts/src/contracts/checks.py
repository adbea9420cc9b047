"""What `python -m contracts check` verifies; each function returns one message per problem.

- `stale_files`: the committed schemas and AsyncAPI document are exactly what the models and
  the topic file generate now (no file missing, different or left over).
- `incompatible_changes`: every event type's schema is backward compatible with its published
  version (see `contracts.compatibility` for the rules).
- `registry_problems`: every event type is named `<service>.<aggregate>.<fact>.v<major>`, is
  carried on its `<service>.<aggregate>` topic, which the topic file declares with that service
  as owner, and is documented (a docstring, a description on every field).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from contracts.artifacts import PACKAGE_DIR, event_schema, schema_dir, schema_path, shown
from contracts.base import Event
from contracts.compatibility import breaking_changes
from contracts.published import published_schema
from contracts.topology import Topology

__all__ = ["incompatible_changes", "registry_problems", "stale_files"]

_EVENT_TYPE = re.compile(r"^([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\.v([1-9][0-9]*)$")


def stale_files(expected: Mapping[Path, str], package_dir: Path = PACKAGE_DIR) -> list[str]:
    problems: list[str] = []
    for path, text in expected.items():
        if not path.is_file():
            problems.append(f"{shown(path)} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{shown(path)} is stale: it differs from what the contracts generate")
    problems.extend(
        f"{shown(leftover)} is left over: no registered event type produces it"
        for leftover in sorted(schema_dir(package_dir).glob("*.json"))
        if leftover not in expected
    )
    return problems


def incompatible_changes(
    events: Mapping[str, type[Event]],
    published: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> list[str]:
    """Compare each event type's schema with `published(event_type)` (default: git HEAD)."""
    lookup = published or (lambda event_type: published_schema(schema_path(event_type)))
    problems: list[str] = []
    for event_type, model in sorted(events.items()):
        old = lookup(event_type)
        if old is None:
            continue  # not published yet
        problems.extend(
            f"{event_type} changed incompatibly: {change}. Publish it as {_next_major(event_type)}"
            f" beside {event_type} instead"
            for change in breaking_changes(old, event_schema(model))
        )
    return problems


def registry_problems(events: Mapping[str, type[Event]], topology: Topology) -> list[str]:
    problems: list[str] = []
    streams = {topic.name: topic for topic in topology.topics if topic.role == "stream"}
    for event_type, model in sorted(events.items()):
        named = _EVENT_TYPE.match(event_type)
        if named is None:
            problems.append(
                f"{event_type}: not named `<service>.<aggregate>.<fact>.v<major>` (lower case)"
            )
            continue
        stream = named.group(1)
        if stream != model.TOPIC:
            problems.append(
                f"{event_type}: TOPIC is {model.TOPIC!r}; it must be its producer's aggregate "
                f"stream {stream!r}"
            )
        topic = streams.get(model.TOPIC)
        if topic is None:
            problems.append(
                f"{event_type}: topic {model.TOPIC!r} is not declared in {_topics(topology)}"
            )
        elif topic.owner != model.producer():
            problems.append(
                f"{event_type}: topic {model.TOPIC!r} is owned by {topic.owner!r} in "
                f"{_topics(topology)}, not by the producer {model.producer()!r}"
            )
        problems.extend(f"{event_type}: {problem}" for problem in _documentation_problems(model))
    return problems


def _documentation_problems(model: type[Event]) -> list[str]:
    problems = [] if model.__doc__ else ["describe the event in its class docstring"]
    problems.extend(
        f"field {name!r} needs a description (Field(description=...))"
        for name, field in model.model_fields.items()
        if not field.description
    )
    subject = model.model_fields.get(model.SUBJECT_FIELD)
    if subject is None or not subject.is_required():
        problems.append(f"SUBJECT_FIELD {model.SUBJECT_FIELD!r} must be a required field")
    return problems


def _next_major(event_type: str) -> str:
    stem, _, major = event_type.rpartition(".v")
    return f"{stem}.v{int(major) + 1}" if major.isdigit() else f"{event_type}.v2"


def _topics(topology: Topology) -> str:
    return shown(topology.source) if topology.source else "the topic file"
