"""What the code a service's manifest names receives: its consumer's handlers factory, its
background tasks and its wiring each get one `ServiceContext`, built by `ServiceApp.build_app`.

    # service.toml: handlers = "orders.consumers:handlers"
    def handlers(context: ServiceContext[OrdersSettings]) -> HandlerRegistry: ...

    # background = ["orders.sweeper:overdue_sweeper"]
    def overdue_sweeper(context: ServiceContext[OrdersSettings]) -> LifespanHook: ...

    # wiring = "orders.catalog:wire"  (runs last, on the built app)
    def wire(context: ServiceContext[OrdersSettings], app: FastAPI) -> None: ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from contracts.manifest import ServiceManifest
from servicekit.db.engine import Database
from servicekit.events.outbox import Outbox
from servicekit.http.client import ResilientClient
from servicekit.settings import ServiceSettings

__all__ = ["ServiceContext"]

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
