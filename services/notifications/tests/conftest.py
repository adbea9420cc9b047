from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from email.headerregistry import Address
from pathlib import Path

import pytest

from devstack.process import free_port
from devstack.smtp_sink import SmtpSink
from devstack.stack import Stack
from notifications.mailer import SmtpConfig, SmtpMailer, smtp_breaker
from notifications.settings import NotificationsSettings
from servicekit import BreakerPolicy, CircuitBreaker
from servicekit.db import Database, bootstrap_database

SENDER = Address("Flotilla", "no-reply", "flotilla.local")


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """The devstack SMTP sink, in-process, on a port of its own."""
    with SmtpSink(tmp_path / "mail", free_port()) as sink:
        yield sink


MailerFactory = Callable[..., SmtpMailer]


@pytest.fixture
async def make_mailer() -> AsyncIterator[MailerFactory]:
    """An SmtpMailer for 127.0.0.1:`port`: fast retries, and a breaker that opens quickly.
    The connections the mailers keep open are closed after the test."""
    made: list[SmtpMailer] = []

    def make(port: int, breaker: CircuitBreaker | None = None, **config: object) -> SmtpMailer:
        options: dict[str, object] = {
            "timeout_s": 2.0,
            "max_attempts": 2,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.02,
            **config,
        }
        mailer = SmtpMailer(
            SmtpConfig(host="127.0.0.1", port=port, sender=SENDER, **options),  # type: ignore[arg-type]
            breaker or smtp_breaker(BreakerPolicy(minimum_calls=3, open_wait_s=30.0)),
        )
        made.append(mailer)
        return mailer

    yield make
    for mailer in made:
        await mailer.close()


@pytest.fixture(scope="session")
async def notifications_settings(
    scratch_database: Callable[[str, str], tuple[str, str]], test_stack: Stack
) -> NotificationsSettings:
    admin_url, service_url = scratch_database("notifications_it", "notifications")
    settings = NotificationsSettings(
        database_url=service_url,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",  # tests install a local verifier
        **test_stack.kafka_admin_settings(),
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        log_format="console",
        environment="test",
    )
    await bootstrap_database(settings, admin_url, "notifications:migrations")
    return settings


@pytest.fixture(scope="session")
async def database(notifications_settings: NotificationsSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(notifications_settings)
    yield database
    await database.dispose()
