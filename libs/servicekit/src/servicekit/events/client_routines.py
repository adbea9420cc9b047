"""The background routines of an aiokafka client, and what to do when one has died.

aiokafka does a client's work in background tasks — the group coordination, the fetcher, the
producer's sender, the metadata synchroniser — and never restarts one that ends with an
unexpected error: the client then looks alive and does nothing (every `getmany` raises the
same error again; every send fails). Only a new client works again, so the consumer's fetch
loop checks its clients (the group's consumer and the forwarder's producer) before each fetch
and raises `KafkaClientDied`, and its supervisor replaces them. (The outbox relay needs no
check: a producer whose sender died fails every pending and later send, and the relay
replaces its producer after any error.)

The one death we saw (a write to a socket uvloop had closed) is prevented by
`closed_transport.py`; this is for whatever else may end a routine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

__all__ = ["KafkaClientDied", "client_routines", "dead_routine"]

# The tasks aiokafka (0.12) starts for a client, by the attributes that hold them (the
# consumer's network client is `_client`, the producer's `client`).
_ROUTINES: dict[str, tuple[tuple[str, str], ...]] = {
    "metadata synchroniser": (("_client", "_sync_task"), ("client", "_sync_task")),
    "group coordination": (("_coordinator", "_coordination_task"),),
    "fetcher": (("_fetcher", "_fetch_task"),),
    "sender": (("_sender", "_sender_task"),),
}


class KafkaClientDied(RuntimeError):
    """A background routine of a Kafka client ended with an error: the client must be replaced."""


def client_routines(client: AIOKafkaConsumer | AIOKafkaProducer) -> dict[str, asyncio.Task[Any]]:
    """The started client's background routines, by name."""
    routines = {}
    for name, paths in _ROUTINES.items():
        for holder, attribute in paths:
            task = getattr(getattr(client, holder, None), attribute, None)
            if isinstance(task, asyncio.Task):
                routines[name] = task
                break
    return routines


def dead_routine(*clients: AIOKafkaConsumer | AIOKafkaProducer) -> str | None:
    """Which routine of the clients ended with an error, and the error; None while all run
    (a routine cancelled by the client's `stop()` is not dead)."""
    for client in clients:
        for name, task in client_routines(client).items():
            if task.done() and not task.cancelled():
                error = task.exception()
                if error is not None:
                    cause = f" (from {error.__cause__!r})" if error.__cause__ else ""
                    return f"{type(client).__name__}'s {name}: {error!r}{cause}"
    return None
