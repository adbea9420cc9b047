"""What the code a service's manifest names receives: its consumer's handlers factory, its
background tasks and its wiring each get one `ServiceContext`, built by `ServiceApp.build_app`.

    # service.toml: handlers = "orders.consumers:handlers"
    def handlers(context: ServiceContext[OrdersSettings]) -> HandlerRegistry: ...

    # background = ["orders.sweeper:overdue_sweeper"]
    def overdue_sweeper(context: ServiceContext[OrdersSettings]) -> LifespanHook: ...

    # wiring = "orders.catalog:wire"  (runs last, on the built app)
    def wire(context: ServiceContext[OrdersSettings], app: FastAPI) -> None: ...

What such code opens itself and must close, it hands to `context.at_shutdown(...)`: e.g.
notifications' mailer, whose SMTP connection stays open between emails.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import FastAPI

from contracts.manifest import ServiceManifest
from servicekit.db.engine import Database
from servicekit.events.outbox import Outbox
from servicekit.http.client import ResilientClient
from servicekit.settings import ServiceSettings

__all__ = ["ServiceContext"]

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass(frozen=True)
class ServiceContext(Generic[SettingsT]):
    manifest: ServiceManifest
    settings: SettingsT
    database: Database
    outbox: Outbox | None
    """None when the service publishes nothing (its manifest has no `publishes`)."""
    downstream: Mapping[str, ResilientClient]
    """One client per manifest `downstreams` entry, opened and closed with the app."""
    _closers: list[Callable[[], Awaitable[None]]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def at_shutdown(self, close: Callable[[], Awaitable[None]]) -> None:
        """Await `close()` when the app stops: after the consumer and the background tasks
        have stopped, so that nothing uses what it closes any more (the last registered
        first). A failure is logged and the others still run."""
        self._closers.append(close)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """The lifespan hook that runs `at_shutdown`'s callbacks (ServiceApp enters it before
        the consumer's, so it is left after)."""
        try:
            yield
        finally:
            for close in reversed(self._closers):
                try:
                    await close()
                except Exception:
                    log.exception("closing at shutdown failed", extra={"close": repr(close)})
