"""payments' composition root."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from payments.api import router
from payments.consumers import build_consumer
from payments.provider import PspProvider
from payments.settings import PaymentsSettings
from servicekit import DependencyCheck, ServiceApi, create_app
from servicekit.auth import JwksTokens
from servicekit.db import Database
from servicekit.events import Publishing, inbox_purger
from servicekit.http import ResilientClient

__all__ = ["API", "build_app"]

log = logging.getLogger(__name__)

API = ServiceApi(
    title="Flotilla payments",
    description=(
        "Charges each order whose stock is reserved, once, and says how it went; refunds "
        "the charge of an order that ends cancelled."
    ),
    routers=(router,),
)


def build_app(settings: PaymentsSettings, span_processors: Sequence[SpanProcessor] = ()) -> FastAPI:
    database = Database.from_settings(settings)
    publishing = Publishing.for_service(settings, database)
    psp = ResilientClient.from_settings("psp", settings)
    consumer = build_consumer(
        settings, database, publishing.outbox, PspProvider(psp, settings.psp_api_key)
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
        # The psp is deliberately not a readiness check: while it is down its breaker fails
        # charges fast and reservations wait in the retry topics; the API can still answer.
        extra_checks=[DependencyCheck("kafka", consumer.probe)],
        # Entered in order, left in reverse: the consumer stops before the psp client closes.
        lifespan_hooks=[
            publishing.relay.lifespan,
            psp.lifespan,
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
    psp.use_tracer_provider(app.state.tracer_provider)
    tokens.install(app)
    if sum(consumer.policy.retry_delays_s) < settings.payment_give_up_s:
        log.warning(
            "the retry delays (%s s) end before PAYMENT_GIVE_UP_S (%s s): while the provider "
            "is down, payments fail at the consumer's last attempt, before the give-up time",
            sum(consumer.policy.retry_delays_s),
            settings.payment_give_up_s,
        )
    return app
