"""Wiring for a service that publishes events: its outbox and the relay that drains it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from servicekit.db.engine import Database
from servicekit.events.outbox import Outbox
from servicekit.events.relay import OutboxRelay, RelaySettings
from servicekit.settings import ServiceSettings

__all__ = ["Publishing"]


@dataclass(frozen=True)
class Publishing:
    outbox: Outbox
    relay: OutboxRelay

    @classmethod
    def for_service(
        cls, settings: ServiceSettings, database: Database, relay: RelaySettings | None = None
    ) -> Publishing:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS must be set for a service that publishes")
        outbox = Outbox(settings.service_name, settings.events_schema_base_url)
        return cls(
            outbox,
            OutboxRelay(
                service=settings.service_name,
                database=database,
                outbox=outbox,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                settings=relay,
                security=settings.kafka_security(),
            ),
        )

    def install(self, app: FastAPI) -> None:
        """Expose the outbox to routes (`OutboxDep`) and the relay to tests and health."""
        app.state.outbox = self.outbox
        app.state.relay = self.relay
        self.relay.use_tracer_provider(app.state.tracer_provider)
