"""No network in a unit test: `refuse_network()` makes every TCP/UDP connect, bind, send and
name lookup raise `NetworkRefused` and keeps a note of each attempt, so a test fails even when
the code under test swallows the error. The root conftest applies it to tests marked `unit`.

Unix-domain sockets stay allowed: the event loop wakes itself through a socket pair.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["NetworkRefused", "refuse_network"]

_INTERNET = (socket.AF_INET, socket.AF_INET6)


class NetworkRefused(Exception):  # not an OSError: code that retries on OSError must not hide it
    """A unit test tried to reach the network."""


@contextmanager
def refuse_network() -> Iterator[list[str]]:
    """Within the block, refuse the network; yields the list of attempts (what and where)."""
    attempts: list[str] = []
    originals: dict[str, Any] = {}

    def refuse(what: str) -> NetworkRefused:
        attempts.append(what)
        return NetworkRefused(f"a unit test may not use the network: {what}")

    def guarded_method(name: str) -> Callable[..., Any]:
        original = getattr(socket.socket, name)

        def guarded(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
            if self.family in _INTERNET:
                raise refuse(f"socket.{name}{args!r}")
            return original(self, *args, **kwargs)

        originals[f"socket.{name}"] = original
        return guarded

    def guarded_lookup(name: str) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            raise refuse(f"{name}{args!r}")

        originals[name] = getattr(socket, name)
        return guarded

    patched_methods = {
        name: guarded_method(name) for name in ("connect", "connect_ex", "bind", "sendto")
    }
    patched_functions = {
        name: guarded_lookup(name) for name in ("getaddrinfo", "gethostbyname", "create_connection")
    }
    for name, guarded in patched_methods.items():
        setattr(socket.socket, name, guarded)
    for name, guarded in patched_functions.items():
        setattr(socket, name, guarded)
    try:
        yield attempts
    finally:
        for name in patched_methods:
            setattr(socket.socket, name, originals[f"socket.{name}"])
        for name in patched_functions:
            setattr(socket, name, originals[name])
