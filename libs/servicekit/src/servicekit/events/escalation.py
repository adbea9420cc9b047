"""Handling one admitted record on its own, escalating while it fails:

handled in ONE transaction with its inbox row (already there → duplicate)
PermanentError                 → DLQ (permanent_error)
the database is unavailable    → DependencyUnavailable, raised (outages.py): nothing spent
anything else (or a timeout)   → retried in place with backoff, then forwarded to the
                                 group's next retry topic, then the DLQ (retries_exhausted)
"""

from __future__ import annotations

import asyncio
import logging
import time

from servicekit.db.engine import Database
from servicekit.events.dead_letters import DeadLetterReason
from servicekit.events.forwarding import Forwarder, RecordTooLarge
from servicekit.events.handlers import EventContext, PermanentError
from servicekit.events.inbox import claim
from servicekit.events.metrics import Outcome
from servicekit.events.outages import DependencyUnavailable, Outages
from servicekit.events.outbox import Outbox
from servicekit.events.retry import RetryPolicy, epoch_ms
from servicekit.events.screening import Admitted

__all__ = ["Escalation"]

log = logging.getLogger(__name__)


class Escalation:
    def __init__(
        self,
        *,
        group: str,
        database: Database,
        outbox: Outbox,
        forwarder: Forwarder,
        policy: RetryPolicy,
        retry_topics: list[str],
        handler_timeout_s: float,
        outages: Outages,
    ) -> None:
        self._group = group
        self._outages = outages
        self._database = database
        self._outbox = outbox
        self._forwarder = forwarder
        self._policy = policy
        self._retry_topics = retry_topics
        self._handler_timeout_s = handler_timeout_s

    async def handle(self, admitted: Admitted, first_error: BaseException | None = None) -> Outcome:
        """In-place retries, then the retry topics, then the DLQ. `first_error` is the failure
        of its first attempt, already made in a batch."""
        record, span, attempts_before = admitted.record, admitted.span, admitted.attempts_before

        async def dead_letter(
            reason: DeadLetterReason, error: BaseException | str, attempts: int
        ) -> None:
            await self._forwarder.dead_letter(
                record, admitted.headers, admitted.origin, reason, error, attempts
            )

        last_error: BaseException = RuntimeError("no attempt made")
        for tried in range(1, self._policy.in_place_attempts + 1):
            attempt = attempts_before + tried
            span.set_attribute("flotilla.event.attempt", attempt)
            try:
                if tried == 1 and first_error is not None:
                    raise first_error
                async with asyncio.timeout(self._handler_timeout_s):
                    handled = await self._handle_once(admitted, attempt)
            except PermanentError as error:
                span.record_exception(error)
                await dead_letter("permanent_error", error, attempt)
                return "dead_lettered"
            except Exception as error:
                reason = await self._outages.classify(error)
                if reason is not None:
                    raise DependencyUnavailable(reason, error) from error
                last_error = error
                if isinstance(error, TimeoutError):
                    last_error = TimeoutError(
                        f"handler took longer than {self._handler_timeout_s}s"
                    )
                span.record_exception(last_error)
                log.info(
                    "handling %s failed (attempt %d): %r",
                    admitted.envelope.id,
                    attempt,
                    error,
                    extra={"group": self._group, "event_type": admitted.envelope.type},
                )
                if tried < self._policy.in_place_attempts:
                    await asyncio.sleep(self._policy.backoff_s(tried))
                continue
            return "processed" if handled else "duplicate"

        attempts = attempts_before + self._policy.in_place_attempts
        tier = self._retry_topics.index(record.topic) + 1 if admitted.forwarded else 0
        if tier < len(self._retry_topics):
            delay_s = self._policy.retry_delays_s[tier]
            try:
                await self._forwarder.to_retry(
                    self._retry_topics[tier],
                    key=record.key,
                    value=record.value,
                    headers=admitted.headers,
                    origin=admitted.origin,
                    attempts=attempts,
                    not_before_ms=epoch_ms(time.time() + delay_s),
                    error=last_error,
                )
            except RecordTooLarge as error:
                await dead_letter("too_large", error, attempts)
                return "invalid"
            return "retried"
        await dead_letter("retries_exhausted", last_error, attempts)
        return "dead_lettered"

    async def _handle_once(self, admitted: Admitted, attempt: int) -> bool:
        """Inbox row and the handler's writes in one transaction; False for a duplicate."""
        async with self._database.transaction() as session:
            if not await claim(session, admitted.envelope):
                return False
            await admitted.registration.handler(
                session, admitted.event, EventContext(admitted.envelope, self._outbox, attempt)
            )
        return True
