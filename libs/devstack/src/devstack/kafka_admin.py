"""What devstack asks a running broker: list and create topics (it never deletes any).

The callers block (the CLI and test fixtures): `run_blocking` runs the aiokafka calls on an
event loop of their own, in a worker thread when the caller already runs one. `options` are
aiokafka's security arguments (`KafkaBroker.client_options()`), empty for an open broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from devstack.process import ProcessError

__all__ = ["ADMIN_TIMEOUT_MS", "TopicSpec", "create_topics", "list_topics", "run_blocking"]

ADMIN_TIMEOUT_MS = 10_000

_T = TypeVar("_T")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def _admin(
    servers: str, options: Mapping[str, Any], timeout_ms: int = ADMIN_TIMEOUT_MS
) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=servers, client_id="devstack", request_timeout_ms=timeout_ms, **options
    )


async def list_topics(
    servers: str, options: Mapping[str, Any], timeout_ms: int = ADMIN_TIMEOUT_MS
) -> list[str]:
    admin = _admin(servers, options, timeout_ms)
    try:
        await admin.start()
        topics: list[str] = await admin.list_topics()
        return topics
    finally:
        await admin.close()


async def create_topics(
    servers: str, options: Mapping[str, Any], topics: Sequence[TopicSpec]
) -> None:
    """Create the topics that do not exist yet; existing topics are left as they are."""
    admin = _admin(servers, options)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [spec for spec in topics if spec.name not in existing]
        if not missing:
            return
        new = [
            NewTopic(
                spec.name,
                spec.partitions,
                spec.replication_factor,
                topic_configs=dict(spec.config),
            )
            for spec in missing
        ]
        response = await admin.create_topics(new, timeout_ms=ADMIN_TIMEOUT_MS)
        for topic, code, *rest in response.topic_errors:
            if code in (0, TopicAlreadyExistsError.errno):  # a concurrent create won
                continue
            message = rest[0] if rest else ""
            raise for_code(code)(f"creating topic {topic!r} failed: {message}")
        await _wait_for_leaders(admin, [spec.name for spec in missing])
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until every partition of the new topics has a leader, so clients can use them."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_MS / 1000
    while True:
        described = await admin.describe_topics(names)
        ready = {
            topic["topic"]
            for topic in described
            if topic["error_code"] == 0
            and topic["partitions"]
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in topic["partitions"])
        }
        if ready >= set(names):
            return
        if time.monotonic() > deadline:
            raise ProcessError(f"topics without leaders after creation: {set(names) - ready}")
        await asyncio.sleep(0.1)


def run_blocking(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion on a new event loop, from sync code or inside a loop.

    Called from inside a running loop (an async test), `asyncio.run` would refuse; the loop
    then runs in a worker thread while the caller blocks, as every method here does.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack-kafka") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
