"""The outbox relay: publishes committed outbox rows to Kafka, in order, then deletes them.

One relay is active per service, whatever the number of replicas: each instance tries to take
a Postgres advisory lock on a connection it keeps; the holder publishes, the others stand by
and retry the lock. If the holder dies its connection closes, the lock is released and a
stand-by takes over. All the holder's reads and writes go through that same connection (each
statement on its own, in autocommit: none needs a transaction around it), so it cannot keep
publishing after losing the lock: when Postgres restarts, the lock goes with the session, the
holder's next statement fails, and it closes that connection for good (never letting
SQLAlchemy reconnect it, which would bring a new session without the lock) and campaigns again
like every other instance. A batch is selected on that connection before it is sent, so a
former holder can at most finish sending the one batch it selected before the restart;
consumers deduplicate.

An unavailable Postgres or Kafka is waited out (`relay_outages.py`): no leader, probes with
jittered back-off, `flotilla_outbox_relay_paused{reason}` = 1, then a new campaign.

Each round selects the oldest unpublished rows (`published_at IS NULL ORDER BY id`, read along the
primary key) — never "rows after the last id published", since ids are assigned at insert but rows
become visible at commit, out of id order. The batch is sent with an idempotent `acks=all` producer
and deleted only once Kafka acknowledged every record: by the statement that reads the next batch
(one round trip for both; the read leaves the sent rows out), which runs at the next wake-up or,
with none within `delete_within_s` (0.1 s), then anyway; a stopping relay deletes its last batch
on its own. A crash between the send and the delete publishes again; consumers deduplicate by
event id. While Kafka is down, rows accumulate and the API keeps accepting writes; the backlog
drains when Kafka returns.

The relay is woken by its own process's commits (and looks every `poll_interval_s` for other
processes'), and reads at once: at the saga's rates each batch is one row or two
(`flotilla_outbox_batches_total`: rows published ÷ batches is the mean batch). Waiting a few
milliseconds after a wake-up to gather more was measured and not kept (docs/performance.md).

The outbox holds only what is still to be sent. A published event is in Kafka for its topic's
retention, with its PRODUCER span in the trace. Relays before 2026-12-06 marked a sent row
`published_at` and kept it 24 h: the table held a day of traffic, which autovacuum visits only
once a fifth of it has changed, and until then the index entry of every row sent since stayed
in the unpublished rows' index, for every batch's read to walk over (2.2 ms and 2,736 pages a
read with a million of them). Deleted at once, the rows leave a table that autovacuum cleans
about every minute (a minute of orders' events at 60 orders/s, not yet vacuumed: 0.13 ms a
read). Rows such an earlier relay left behind are purged by `_housekeeping`, never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, TracerProvider
from sqlalchemy import BigInteger, Integer, bindparam, delete, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from servicekit.db.direct_statements import direct
from servicekit.db.engine import Database
from servicekit.events import closed_transport
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.outbox import Outbox
from servicekit.events.relay_outages import RelayOutages
from servicekit.events.tables import OUTBOX
from servicekit.observability.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_BATCHES,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
    OUTBOX_RELAY_ACTIVE,
)

__all__ = ["OutboxRelay", "RelaySettings"]

log = logging.getLogger(__name__)

closed_transport.install()  # a write to a socket uvloop closed: a broken connection


# The statements of every batch, built once (a statement built per call costs more CPU than
# its round trip) and run on the driver (servicekit.db.direct), on the relay's own connection.
_BATCH = select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.key, OUTBOX.c.headers, OUTBOX.c.payload)
_BATCH_SIZE = bindparam("batch_size", type_=Integer)
_SENT = bindparam("sent", type_=ARRAY(BigInteger))
_UNPUBLISHED = direct(
    _BATCH.where(OUTBOX.c.published_at.is_(None)).order_by(OUTBOX.c.id).limit(_BATCH_SIZE)
)
# The rows of the batch sent before deleted, and the next batch read, in one statement: the
# read does not see the delete (both run on the statement's snapshot), so it leaves them out.
_DELETE_SENT_READ_NEXT = direct(
    _BATCH.add_cte(delete(OUTBOX).where(OUTBOX.c.id == func.any(_SENT)).cte("deleted"))
    .where(OUTBOX.c.published_at.is_(None), OUTBOX.c.id != func.all(_SENT))
    .order_by(OUTBOX.c.id)
    .limit(_BATCH_SIZE)
)
_DELETE_PUBLISHED = direct(delete(OUTBOX).where(OUTBOX.c.id == func.any(_SENT)))


@dataclass(frozen=True)
class RelaySettings:
    batch_size: int = 500
    poll_interval_s: float = 0.5
    """How often to look for rows committed by other processes (wake-ups cover our own)."""
    delete_within_s: float = 0.1
    """A batch sent is deleted with the next batch's read; with none that soon, it is read
    (and deleted) after this long anyway."""
    standby_interval_s: float = 1.0
    """How often a stand-by retries the leadership lock."""
    retry_backoff_s: float = 1.0
    """The first wait after a failure; it doubles, with jitter, up to `retry_backoff_max_s`."""
    retry_backoff_max_s: float = 10.0
    housekeeping_interval_s: float = 5.0
    purge_batch_size: int = 1_000
    """At most this many rows an earlier relay marked published are purged per housekeeping."""


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        database: Database,
        outbox: Outbox,
        bootstrap_servers: str,
        settings: RelaySettings | None = None,
        tracer_provider: TracerProvider | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._service = service
        self._database = database
        self._outbox = outbox
        self._bootstrap_servers = bootstrap_servers
        self._security = security or KafkaSecurity()
        self._settings = settings or RelaySettings()
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._lock_key = zlib.crc32(f"flotilla-outbox:{service}".encode())
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.is_active = False
        self._next_housekeeping = 0.0
        self._failures = 0
        self.outages = RelayOutages(
            service=service,
            probes={"database": database.ping, "kafka": self._probe_kafka},
            stopping=self._stopping,
            probe_timeout_s=5.0,
            backoff_s=(self._settings.retry_backoff_s / 2, self._settings.retry_backoff_max_s),
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def use_tracer_provider(self, provider: TracerProvider) -> None:
        self._tracer = trace.get_tracer(__name__, tracer_provider=provider)

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"{self._service}-outbox-relay")

    async def stop(self) -> None:
        self._stopping.set()
        self._outbox.committed.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._lead_when_possible()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._set_active(False)
                self._failures += 1
                OUTBOX_PUBLISH_FAILURES.labels(type(error).__name__).inc()
                reason = await self.outages.classify(error)
                if reason is not None:
                    await self.outages.wait_out(reason, error)
                else:
                    log.error("outbox relay interrupted; retrying", exc_info=error)
                # Failing again and again without a round in between (a dependency that answers
                # probes but refuses the work): wait longer each time.
                if reason is None or self._failures > 1:
                    await self.outages.back_off(self._failures)

    async def _probe_kafka(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=f"{self._service}-outbox-relay-probe",
            request_timeout_ms=5_000,
            **self._security.client_options(),
        )
        try:
            await producer.start()
        finally:
            await producer.stop()

    async def _lead_when_possible(self) -> None:
        async with self._database.engine.connect() as connection:
            # Each of the relay's statements stands on its own (the lock belongs to the session,
            # a batch is read, then deleted once Kafka acknowledged it): in autocommit, none pays
            # a BEGIN and a COMMIT round trip around it.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            while not self._stopping.is_set():
                acquired = await connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._lock_key}
                )
                if acquired:
                    break
                await self._pause(self._settings.standby_interval_s)
            else:
                return
            self._set_active(True)
            log.info("outbox relay active", extra={"service": self._service})
            try:
                await self._publish_while_leading(connection)
            finally:
                self._set_active(False)
                # Close rather than return to the pool: a pooled connection would keep the
                # session-level lock, and no other relay could ever lead.
                await connection.invalidate()

    async def _publish_while_leading(self, connection: AsyncConnection) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=f"{self._service}-outbox-relay",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=15_000,
            **self._security.client_options(),
        )
        try:
            await producer.start()
            sent: list[int] = []
            while not self._stopping.is_set():
                self._outbox.committed.clear()
                sent = await self._publish_batch(connection, producer, sent)
                await self._housekeeping(connection, sent)
                self._failures = 0
                if len(sent) < self._settings.batch_size:
                    await self._wait_for_work(
                        min(self._settings.delete_within_s, self._settings.poll_interval_s)
                        if sent
                        else self._settings.poll_interval_s
                    )
            if sent:  # stopping: leave nothing for the next leader to send again
                await self._delete_published(connection, sent)
        finally:
            await producer.stop()

    async def _publish_batch(
        self, connection: AsyncConnection, producer: AIOKafkaProducer, sent: list[int]
    ) -> list[int]:
        """Publish the next batch, deleting the one `sent` before it as it is read; return the
        ids of the rows published (acknowledged by Kafka, not yet deleted)."""
        rows = await self._next_batch(connection, sent)
        if not rows:
            return []
        spans = []
        deliveries = []
        for row in rows:
            span, headers = self._producer_span(row.topic, row.key, row.headers)
            spans.append(span)
            deliveries.append(
                await producer.send(
                    row.topic, value=row.payload, key=row.key.encode(), headers=headers
                )
            )
        try:
            await asyncio.gather(*deliveries)
        except KafkaError as error:
            for span in spans:
                span.record_exception(error)
                span.set_status(trace.StatusCode.ERROR)
            raise
        finally:
            for span in spans:
                span.end()
        OUTBOX_PUBLISHED.inc(len(rows))
        OUTBOX_BATCHES.inc()
        return [row.id for row in rows]

    async def _next_batch(self, connection: AsyncConnection, sent: list[int]) -> list[Any]:
        """The oldest unpublished rows, the rows `sent` deleted by the same statement."""
        batch_size = self._settings.batch_size
        if not sent:
            return (await _UNPUBLISHED.run(connection, {"batch_size": batch_size})).all()
        parameters = {"sent": sent, "batch_size": batch_size}
        return (await _DELETE_SENT_READ_NEXT.run(connection, parameters)).all()

    async def _delete_published(self, connection: AsyncConnection, ids: list[int]) -> None:
        await _DELETE_PUBLISHED.run(connection, {"sent": ids})

    def _producer_span(
        self, topic: str, key: str, stored: dict[str, Any]
    ) -> tuple[trace.Span, list[tuple[str, bytes]]]:
        """A PRODUCER span, child of the transaction that appended the row; its context
        replaces the stored one in the record headers, so consumers continue this trace."""
        parent = propagate.extract(stored)
        span = self._tracer.start_span(
            f"send {topic}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.operation.name": "send",
                "messaging.destination.name": topic,
                "messaging.message.id": str(stored.get("ce_id", "")),
                "messaging.kafka.message.key": key,
            },
        )
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        headers = {
            name: str(value)
            for name, value in stored.items()
            if name not in ("traceparent", "tracestate")
        }
        headers.update(carrier)
        return span, [(name, value.encode()) for name, value in headers.items()]

    async def _housekeeping(self, connection: AsyncConnection, sent: list[int]) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + self._settings.housekeeping_interval_s
        backlog, oldest_age_s = (
            await connection.execute(
                select(
                    func.count(),
                    func.extract("epoch", func.now() - func.min(OUTBOX.c.created_at)),
                ).where(OUTBOX.c.published_at.is_(None), OUTBOX.c.id != func.all(_SENT)),
                {"sent": sent},
            )
        ).one()
        OUTBOX_BACKLOG.set(backlog)
        OUTBOX_OLDEST_AGE.set(float(oldest_age_s or 0))
        left_published = (
            select(OUTBOX.c.id)
            .where(OUTBOX.c.published_at.is_not(None))
            .limit(self._settings.purge_batch_size)
            .scalar_subquery()
        )
        await connection.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(left_published)))

    async def _wait_for_work(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.committed.wait(), timeout_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _set_active(self, active: bool) -> None:
        self.is_active = active
        OUTBOX_RELAY_ACTIVE.set(1 if active else 0)
