"""orders' composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from orders.api import router
from orders.catalog import CATALOG, CatalogPrices
from orders.consumers import CONSUMER_GROUP, build_registry
from orders.settings import OrdersSettings
from orders.sweeper import OverdueSweeper
from servicekit import DependencyCheck, ServiceApi, create_app
from servicekit.auth import JwksTokens
from servicekit.db import Database
from servicekit.events import EventConsumer, Publishing, inbox_purger
from servicekit.http import ResilientClient

__all__ = ["API", "build_app"]

API = ServiceApi(
    title="Flotilla orders",
    description=(
        "Places orders and follows each through the order saga: stock, payment, and a deadline."
    ),
    routers=(router,),
)


def build_app(settings: OrdersSettings, span_processors: Sequence[SpanProcessor] = ()) -> FastAPI:
    catalog_policy = settings.downstream(CATALOG)  # a missing entry fails at start-up
    database = Database.from_settings(settings)
    publishing = Publishing.for_service(settings, database)
    consumer = EventConsumer.for_group(
        CONSUMER_GROUP,
        build_registry(),
        database=database,
        outbox=publishing.outbox,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security(),
        max_concurrency=settings.consumer_max_concurrency,
    )
    sweeper = OverdueSweeper(
        database,
        publishing.outbox,
        interval_s=settings.sweep_interval_s,
        batch_size=settings.sweep_batch_size,
    )
    catalog = ResilientClient(CATALOG, catalog_policy.base_url, catalog_policy)
    tokens = JwksTokens(
        settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        max_key_age_s=settings.jwks_max_key_age_s,
    )
    app = create_app(
        settings,
        api=API,
        database=database,
        # catalog is deliberately not a readiness check: while it is down, placing an order
        # fails fast (503) but reading orders and the saga's events still work.
        extra_checks=[DependencyCheck("kafka", consumer.probe)],
        lifespan_hooks=[
            publishing.relay.lifespan,
            consumer.lifespan,
            inbox_purger(
                database, settings, retry_delays_s=consumer.policy.retry_delays_s
            ).lifespan,
            sweeper.lifespan,
            tokens.lifespan,
            catalog.lifespan,
        ],
        span_processors=span_processors,
    )
    publishing.install(app)
    consumer.use_tracer_provider(app.state.tracer_provider)
    catalog.use_tracer_provider(app.state.tracer_provider)
    app.state.catalog = catalog
    app.state.prices = CatalogPrices(catalog)
    tokens.install(app)
    return app
