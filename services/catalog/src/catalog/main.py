"""catalog's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from catalog.api import router
from catalog.consumers import CONSUMER_GROUP, build_registry
from catalog.settings import CatalogSettings
from servicekit import DependencyCheck, ServiceApi, create_app
from servicekit.auth import JwksTokens
from servicekit.db import Database
from servicekit.events import EventConsumer, Publishing, inbox_purger

__all__ = ["API", "build_app"]

API = ServiceApi(
    title="Flotilla catalog",
    description="Products, their stock, and the reservations orders hold on it.",
    routers=(router,),
)


def build_app(settings: CatalogSettings, span_processors: Sequence[SpanProcessor] = ()) -> FastAPI:
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
        # A partition's ready records share one transaction. Each reservation locks its own
        # products in id order, but a batch's later event may lock a lower id than an earlier
        # one: two partitions' batches can then deadlock, Postgres aborts one, and the
        # consumer redoes that batch record by record. Correct, only slower on hot products.
    )
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
        extra_checks=[DependencyCheck("kafka", consumer.probe)],
        lifespan_hooks=[
            publishing.relay.lifespan,
            consumer.lifespan,
            inbox_purger(
                database, settings, retry_delays_s=consumer.policy.retry_delays_s
            ).lifespan,
            tokens.lifespan,
        ],
        span_processors=span_processors,
    )
    publishing.install(app)
    consumer.use_tracer_provider(app.state.tracer_provider)
    tokens.install(app)
    return app
