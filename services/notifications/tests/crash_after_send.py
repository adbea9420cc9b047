"""A notifications consumer that dies (os._exit) right after the SMTP server accepted a
message, before its transaction commits (or, with CRASH_BEFORE_SEND=1, right before sending,
its claim committed): the crash points test_crash_after_send.py needs.

Run by that test as a child process, configured from the environment as the service is
(NotificationsSettings: DATABASE_URL, KAFKA_*, SMTP_*, ...) plus SOURCE_TOPIC and
CONSUMER_GROUP. Exits with CRASH_EXIT_CODE once a message was accepted.
"""

from __future__ import annotations

import asyncio
import os

from contracts.topology import ConsumerGroup
from notifications.consumers import build_registry
from notifications.domain import Email
from notifications.handlers import Emails
from notifications.mailer import SmtpConfig, SmtpMailer, smtp_breaker
from notifications.settings import NotificationsSettings
from servicekit.db.engine import Database
from servicekit.events.consumer import EventConsumer
from servicekit.events.outbox import Outbox
from servicekit.resilience.breaker import BreakerPolicy

CRASH_EXIT_CODE = 86


class DiesAroundSending:
    def __init__(self, mailer: SmtpMailer, *, before: bool) -> None:
        self._mailer = mailer
        self._before = before

    async def send(self, email: Email) -> None:
        if not self._before:
            await self._mailer.send(email)
        os._exit(CRASH_EXIT_CODE)  # no commit, no clean-up: a crash


async def main() -> None:
    settings = NotificationsSettings()  # type: ignore[call-arg]  # from the environment
    database = Database.from_settings(settings)
    mailer = SmtpMailer(
        SmtpConfig(host=settings.smtp_host, port=settings.smtp_port, sender=settings.sender),
        smtp_breaker(BreakerPolicy()),
    )
    dies = DiesAroundSending(mailer, before=os.environ.get("CRASH_BEFORE_SEND") == "1")
    group = ConsumerGroup.declare(
        os.environ["CONSUMER_GROUP"], (os.environ["SOURCE_TOPIC"],), retry_delays_s=(0.5, 1.0)
    )
    consumer = EventConsumer.for_group(
        group,
        build_registry(Emails(database, dies, "flotilla.local")),
        database=database,
        outbox=Outbox("notifications"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security(),
        max_batch_size=1,
        consumer_options={"heartbeat_interval_ms": 300, "session_timeout_ms": 10_000},
    )
    await consumer.start()
    await asyncio.sleep(60)  # the parent gives up long before; we exit from send()
    os._exit(1)


if __name__ == "__main__":
    asyncio.run(main())
