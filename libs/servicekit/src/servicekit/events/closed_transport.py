"""A write to a Kafka connection whose socket the event loop already closed is a broken
connection, whichever loop runs it.

The services run on uvloop (uvicorn picks it). When the broker goes away mid-conversation
(killed, restarted, a reset connection), uvloop may close the socket's handle before aiokafka's
reader has seen the connection go; a request written in between raises `RuntimeError`
("unable to perform operation on <TCPTransport closed=True ...>; the handler is closed"),
where asyncio's own loop drops the bytes and aiokafka would see the connection close.
aiokafka (0.12 to 0.14) turns only `OSError` from that write into `KafkaConnectionError`, the
error its background routines retry; the `RuntimeError` escapes them instead, and a routine
that fails unexpectedly is never restarted: a consumer's group coordination (every `getmany`
raises again, nothing is consumed or committed), a producer's sender (nothing is delivered),
a client's metadata synchroniser (whatever waits for fresh metadata waits forever). Seen in
our chaos test of a Kafka restart: one service stopped consuming for good.

`install()` makes that write what it is: the connection is closed as broken and
`KafkaConnectionError` is raised, so the routine reconnects as it does after any other
connection loss. Any other `RuntimeError` is raised as it was.
"""

from __future__ import annotations

from typing import Any

from aiokafka.conn import AIOKafkaConnection, CloseReason
from aiokafka.errors import KafkaConnectionError

__all__ = ["install"]

_WRITERS = ("send", "_send_sasl_token")


def install() -> None:
    """Wrap the connection's two writing methods (idempotent)."""
    for name in _WRITERS:
        method = getattr(AIOKafkaConnection, name)
        if not getattr(method, "_flotilla_closed_transport", False):
            setattr(AIOKafkaConnection, name, _broken_when_closed(method))


def _broken_when_closed(write: Any) -> Any:
    def guarded(self: AIOKafkaConnection, *args: Any, **kwargs: Any) -> Any:
        writer = self._writer
        try:
            return write(self, *args, **kwargs)
        except RuntimeError as error:
            if writer is None or not writer.transport.is_closing():
                raise
            self.close(reason=CloseReason.CONNECTION_BROKEN, exc=error)
            raise KafkaConnectionError(
                f"Connection at {self.host}:{self.port} broken: {error}"
            ) from error

    guarded._flotilla_closed_transport = True  # type: ignore[attr-defined]
    guarded.__name__ = write.__name__
    guarded.__doc__ = write.__doc__
    return guarded
