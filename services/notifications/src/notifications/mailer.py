"""Sending email over SMTP, resiliently, and saying whether a failure is worth retrying.

One `send` is up to `max_attempts` attempts, each under its own timeout, with exponential
backoff and full jitter between them. Retried: connection failures, timeouts and temporary
(4xx) replies. Each attempt goes through the SMTP circuit breaker, which counts connection
failures, timeouts and server-wide refusals (421, a refused greeting or login) against the
server; a message the server answered about (a rejected recipient) does not.

What the event consumer sees:
- the message was rejected for good (5xx to MAIL FROM, RCPT TO or DATA) → `PermanentError`:
  the event goes to the dead-letter topic, since resending cannot succeed;
- the breaker is open, or every attempt failed → `TransientError`: the event goes through the
  retry topics, by which time the server may be back.

The attempts share one connection, kept open between emails (`smtp_connection.py`): an attempt
waits for the transaction before it, within its timeout, and a connection the server closed
while idle is replaced within the attempt, neither failing it nor counting against the
breaker, when that can be known to be safe (before DATA). `close()` closes it at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from email.utils import format_datetime, localtime
from typing import Protocol

from aiosmtplib import (
    SMTPConnectError,
    SMTPDataError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from notifications.domain import Email
from notifications.outgoing import OutgoingEmail, OutgoingEmails
from notifications.smtp_connection import SmtpConfig, SmtpConnection
from servicekit import BreakerPolicy, CircuitBreaker, CircuitOpenError
from servicekit.events import PermanentError, TransientError

__all__ = [
    "Mailer",
    "SmtpConfig",
    "SmtpMailer",
    "counts_against_server",
    "is_permanent_rejection",
    "is_worth_retrying",
    "smtp_breaker",
]

log = logging.getLogger(__name__)

_SERVICE_UNAVAILABLE = 421


class Mailer(Protocol):
    async def send(self, email: Email) -> None:
        """Deliver `email` or raise PermanentError / TransientError."""


def _message_codes(error: BaseException) -> list[int] | None:
    """The reply codes of a refusal of this message (sender, recipients, content), if it is one."""
    if isinstance(error, SMTPRecipientsRefused):
        return [refusal.code for refusal in error.recipients]
    if isinstance(error, SMTPSenderRefused | SMTPRecipientRefused | SMTPDataError):
        return [error.code]
    return None


def is_permanent_rejection(error: BaseException) -> bool:
    codes = _message_codes(error)
    return bool(codes) and all(500 <= code < 600 for code in codes or ())


def is_worth_retrying(error: BaseException) -> bool:
    """Connection failures, timeouts and temporary replies; never an open breaker."""
    if isinstance(error, CircuitOpenError):
        return False
    codes = _message_codes(error)
    if codes is not None:
        return any(400 <= code < 500 for code in codes)
    if isinstance(error, SMTPResponseException):
        return 400 <= error.code < 500
    return isinstance(
        error, SMTPConnectError | SMTPServerDisconnected | SMTPTimeoutError | TimeoutError | OSError
    )


def counts_against_server(error: BaseException) -> bool:
    """The breaker's failure predicate: the server is unreachable, slow or refusing everyone.
    A reply about this message alone says the server works."""
    codes = _message_codes(error)
    if codes is not None:
        return _SERVICE_UNAVAILABLE in codes
    return True


def smtp_breaker(
    policy: BreakerPolicy, *, clock: Callable[[], float] = time.monotonic
) -> CircuitBreaker:
    """The breaker for the SMTP server, counting only what says the server is failing."""
    return CircuitBreaker("smtp", policy, is_failure=counts_against_server, clock=clock)


class SmtpMailer:
    def __init__(self, config: SmtpConfig, breaker: CircuitBreaker) -> None:
        self._config = config
        self._breaker = breaker
        self._connection = SmtpConnection(config)
        self._outgoing = OutgoingEmails(config.sender)

    async def send(self, email: Email) -> None:
        message = self._outgoing.outgoing(email, date=format_datetime(localtime()))
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._config.max_attempts),
                wait=wait_random_exponential(
                    multiplier=self._config.backoff_initial_s, max=self._config.backoff_max_s
                ),
                retry=retry_if_exception(is_worth_retrying),
                before_sleep=self._log_retry,
                reraise=True,
            ):
                with attempt:
                    async with self._breaker.guard():
                        await self._attempt(message)
        except CircuitOpenError as error:
            raise TransientError(
                f"the SMTP server is failing (circuit open); retry in {error.retry_after_s:.1f}s"
            ) from error
        except Exception as error:
            if is_permanent_rejection(error):
                raise PermanentError(f"the SMTP server rejected the message: {error}") from error
            raise TransientError(
                f"sending email failed: {type(error).__name__}: {error}"
            ) from error

    async def _attempt(self, message: OutgoingEmail) -> None:
        # The timeout also covers the wait for the connection, while another send holds it.
        async with asyncio.timeout(self._config.timeout_s):
            await self._connection.deliver(message)

    async def close(self) -> None:
        """Close the connection kept open between emails (QUIT), at shutdown."""
        await self._connection.close()

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "smtp attempt %d failed; retrying",
            state.attempt_number,
            extra={"error_type": type(error).__name__, "error": str(error)},
        )
