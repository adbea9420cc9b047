"""notifications' composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from notifications.api import router
from notifications.consumers import CONSUMER_GROUP, build_registry
from notifications.handlers import Emails
from notifications.mailer import SmtpConfig, SmtpMailer, smtp_breaker
from notifications.settings import NotificationsSettings
from servicekit import DependencyCheck, ServiceApi, create_app
from servicekit.auth import JwksTokens
from servicekit.db import Database
from servicekit.events import EventConsumer, Publishing, inbox_purger

__all__ = ["API", "build_app"]

API = ServiceApi(
    title="Flotilla notifications",
    description="The emails Flotilla sends its users, and their record.",
    routers=(router,),
)


def build_app(
    settings: NotificationsSettings, span_processors: Sequence[SpanProcessor] = ()
) -> FastAPI:
    database = Database.from_settings(settings)
    publishing = Publishing.for_service(settings, database)
    sender = settings.sender
    mailer = SmtpMailer(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=sender,
            timeout_s=settings.smtp_timeout_s,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            max_attempts=settings.smtp_max_attempts,
            backoff_initial_s=settings.smtp_backoff_initial_s,
            backoff_max_s=settings.smtp_backoff_max_s,
        ),
        smtp_breaker(settings.smtp_breaker_policy()),
    )
    consumer = EventConsumer.for_group(
        CONSUMER_GROUP,
        build_registry(Emails(database, mailer, sender.domain)),
        database=database,
        outbox=publishing.outbox,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security(),
        max_concurrency=settings.consumer_max_concurrency,
        # Sending mail is a side effect outside the transaction: a batch rolled back because a
        # neighbour failed would send its emails twice, so each event commits on its own.
        max_batch_size=1,
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
        # SMTP is deliberately not a readiness check: while it is down the breaker fails sends
        # fast and events wait in the retry topics; taking the API out of rotation helps nobody.
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
