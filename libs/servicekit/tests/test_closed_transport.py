"""On uvloop, a request written to a Kafka connection whose socket the loop has closed (the
broker went away; aiokafka not told yet) is a broken connection, which aiokafka's routines
retry — not a `RuntimeError` that kills them (`servicekit.events.closed_transport`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvloop
from aiokafka.conn import AIOKafkaConnection
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest

from servicekit.events import closed_transport


@asynccontextmanager
async def _connected() -> AsyncIterator[AIOKafkaConnection]:
    """A connection to a loopback listener that never answers (no version lookup, no SASL:
    just the socket)."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    connection = AIOKafkaConnection(host, port)
    await connection.connect()
    try:
        yield connection
    finally:
        connection.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def _close_its_socket(connection: AIOKafkaConnection) -> None:
    """As uvloop does when the peer resets the connection: the socket closed, before
    aiokafka's reader has seen it."""
    connection._read_task.cancel()  # aiokafka not told yet
    connection._writer.transport.close()
    for _ in range(3):  # uvloop closes the handle on a later iteration
        await asyncio.sleep(0)


def test_uvloop_refuses_the_write_with_a_runtime_error() -> None:
    """The premise: what aiokafka's own `except OSError` misses."""

    async def write() -> None:
        async with _connected() as connection:
            await _close_its_socket(connection)
            with pytest.raises(RuntimeError, match="closed"):
                connection._writer.write(b"\0\0\0\0")

    uvloop.run(write())


def test_the_write_is_a_broken_connection_and_closes_it() -> None:
    closed_transport.install()
    closed_transport.install()  # idempotent

    async def send() -> None:
        async with _connected() as connection:
            await _close_its_socket(connection)
            with pytest.raises(KafkaConnectionError, match="broken"):
                connection.send(MetadataRequest[0]([]))
            assert not connection.connected()
            with pytest.raises(KafkaConnectionError):  # and stays closed
                connection.send(MetadataRequest[0]([]))

    uvloop.run(send())


def test_any_other_runtime_error_is_raised_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    closed_transport.install()

    async def send() -> None:
        def write(data: bytes) -> None:
            raise RuntimeError("not about a closed socket")

        async with _connected() as connection:
            monkeypatch.setattr(connection._writer, "write", write)
            with pytest.raises(RuntimeError, match="not about"):
                connection.send(MetadataRequest[0]([]))
            assert connection.connected()

    uvloop.run(send())
