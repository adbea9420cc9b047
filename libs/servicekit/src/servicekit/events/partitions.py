"""The assigned partitions: one worker each, bounded parallelism, backpressure, offset commits.

Each worker takes its partition's records in order, in batches: the records already queued
and due, up to `max_batch_size`, handled in one transaction (`RecordProcessor.process_batch`).
At most `max_concurrency` batches are processed at a time across all partitions. A
partition whose queue reaches `queue_limit` is full: the fetch loop asks aiokafka only for the
other partitions' records (`fetchable`) until its worker has worked half of it off. What
aiokafka fetched for a full partition waits in its buffer (one fetch response a partition at
most, and no new fetch for it meanwhile) and is handed over as soon as there is room. Pausing
the partition instead would throw that buffer away, and fetching it again waits for the fetch
in flight to the broker, which the broker holds for its whole wait (500 ms) when it asks only for
partitions with nothing new: a consumer working off a backlog then waited that long every
few hundred records (docs/performance.md, "A full partition keeps what was fetched for it").
A record from a retry topic waits in its worker until its `flotilla_not_before`; the others
keep flowing.
When the database or Kafka is unavailable (`outages.py`) every partition is paused and the
workers wait, without their slots, until it answers; then they handle the same records again.

Offsets are committed only for records with a final outcome (`commits.py`), and flushed when
partitions are revoked and on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from servicekit.events.commits import OffsetCommits
from servicekit.events.metrics import CONSUMER_LAG
from servicekit.events.outages import DependencyUnavailable, Outages
from servicekit.events.processing import RecordProcessor
from servicekit.events.retry import not_before_s
from servicekit.events.slots import ConcurrencySlots

__all__ = ["Partitions", "RevokeAndAssign"]

log = logging.getLogger(__name__)

_ABANDON_WAIT_S = 5.0


@dataclass(eq=False)
class _Worker:
    tp: TopicPartition
    queue: asyncio.Queue[ConsumerRecord[bytes, bytes]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    busy: bool = False
    """Processing a record (not waiting for one, for a slot or for its due time)."""
    closing: bool = False
    full: bool = False
    """Its queue reached the limit: not fetched for until worked down to half of it."""
    position: int | None = None
    """Offset of the next record to process."""
    held: ConsumerRecord[bytes, bytes] | None = None
    """Taken from the queue but not due yet: the first record of the next batch."""


class Partitions:
    def __init__(
        self,
        *,
        group: str,
        consumer: AIOKafkaConsumer,
        processor: RecordProcessor,
        retry_topics: Iterable[str],
        longest_retry_delay_s: float,
        slots: ConcurrencySlots,
        outages: Outages,
        queue_limit: int,
        max_batch_size: int = 100,
    ) -> None:
        self._group = group
        self._consumer = consumer
        self._processor = processor
        self._retry_topics = frozenset(retry_topics)
        self._longest_delay_s = longest_retry_delay_s
        self._slots = slots
        self._outages = outages
        outages.attach(self._pause_all, self._resume_all)
        self._queue_limit = queue_limit
        self._max_batch_size = max(1, max_batch_size)
        self._workers: dict[TopicPartition, _Worker] = {}
        self._room = asyncio.Event()
        self.commits = OffsetCommits(group, consumer)
        self._committer: asyncio.Task[None] | None = None

    @property
    def assigned(self) -> frozenset[TopicPartition]:
        return frozenset(self._workers)

    def fetchable(self) -> tuple[TopicPartition, ...] | None:
        """The partitions to fetch records for: None while no queue is full (every assigned
        partition), else those with room — none when every queue is full."""
        if not any(worker.full for worker in self._workers.values()):
            return None
        return tuple(tp for tp, w in self._workers.items() if not w.full and not w.closing)

    async def room(self, timeout_s: float) -> None:
        """Return once a full queue has been worked down to half, or after `timeout_s`."""
        self._room.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), timeout_s)

    @property
    def paused_for(self) -> str | None:
        """The unavailable dependency fetching is paused for (`outages.py`), or None."""
        return self._outages.reason

    # -- assignment --------------------------------------------------------------------------

    def assign(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            if tp not in self._workers:
                worker = _Worker(tp)
                name = f"{self._group}:{tp.topic}:{tp.partition}"
                worker.task = asyncio.create_task(self._work(worker), name=name)
                self._workers[tp] = worker

    async def revoke(self, tps: Iterable[TopicPartition], *, grace_s: float) -> None:
        """Finish (or, after `grace_s`, abandon) the partitions' work and commit it."""
        revoked = set(tps)
        await self._retire([self._workers[tp] for tp in revoked if tp in self._workers], grace_s)
        await self.commits.commit(only=revoked)
        self._forget(revoked)

    def start_committing(self) -> None:
        self._committer = asyncio.create_task(self.commits.commit_continuously())

    async def close(self, *, grace_s: float) -> None:
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        await self.revoke(list(self._workers), grace_s=grace_s)

    def _forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._workers.pop(tp, None)
            self.commits.forget(tp)
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self._group, tp.topic, str(tp.partition))

    async def _retire(self, workers: list[_Worker], grace_s: float) -> None:
        """Workers mid-record may finish it within `grace_s`; then they are cancelled, which
        rolls the record's transaction back and leaves its offset uncommitted."""
        tasks = [w.task for w in workers if w.task is not None]
        busy = [w.task for w in workers if w.busy and w.task is not None]
        for worker in workers:
            worker.closing = True
            if not worker.busy and worker.task is not None:
                worker.task.cancel()  # waiting for a record, a slot or a due time
        if busy and grace_s > 0:
            await asyncio.wait(busy, timeout=grace_s)
        for task in busy:
            if not task.done():
                log.warning("abandoning an in-flight record in %s", task.get_name())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_ABANDON_WAIT_S)

    # -- records -----------------------------------------------------------------------------

    def dispatch(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Queue fetched records for their partition's worker; mark it full at the limit."""
        worker = self._workers.get(tp)
        if worker is None or worker.closing or not records:
            return  # revoked meanwhile: its next owner fetches these again
        if worker.position is None:
            worker.position = records[0].offset
        for record in records:
            worker.queue.put_nowait(record)
        self._update_lag(worker)
        if worker.queue.qsize() >= self._queue_limit:
            worker.full = True

    async def _work(self, worker: _Worker) -> None:
        while not worker.closing:
            batch = await self._next_batch(worker)
            await self._process(worker, batch)
            if worker.full and worker.queue.qsize() <= self._queue_limit // 2:
                worker.full = False
                self._room.set()

    def _pause_all(self) -> None:
        self._consumer.pause(*[tp for tp in self._workers if not self._workers[tp].closing])

    def _resume_all(self) -> None:
        assigned = self._consumer.assignment()
        self._consumer.resume(*[tp for tp in self._workers if tp in assigned])

    async def _next_batch(self, worker: _Worker) -> list[ConsumerRecord[bytes, bytes]]:
        """The next record once due, and those queued behind it that are due too (in order,
        up to `max_batch_size`): a record not due yet ends the batch and starts the next."""
        if worker.held is not None:
            first, worker.held = worker.held, None
        else:
            first = await worker.queue.get()
        await self._wait_until_due(first)
        batch = [first]
        while len(batch) < self._max_batch_size and not worker.queue.empty():
            record = worker.queue.get_nowait()
            if not self._is_due(record):
                worker.held = record
                break
            batch.append(record)
        return batch

    def _done(self, worker: _Worker, next_offset: int) -> None:
        worker.position = next_offset
        self.commits.want(worker.tp, next_offset)
        self._update_lag(worker)

    async def _process(self, worker: _Worker, batch: list[ConsumerRecord[bytes, bytes]]) -> None:
        def done(next_offset: int) -> None:
            self._done(worker, next_offset)

        while True:
            outage: DependencyUnavailable | None = None
            async with self._slots.held():
                worker.busy = True
                try:
                    await self._processor.process_batch(batch, done)
                    return
                except DependencyUnavailable as unavailable:  # handled again once it answers
                    outage = unavailable
                    position = worker.position
                    batch = [
                        record
                        for record in batch
                        if (position is None or record.offset >= position)
                        and record.offset not in unavailable.settled
                    ]
                    if not batch:
                        return
                except Exception:  # a bug of ours: never skip a record, try again
                    log.exception("processing records of %s failed unexpectedly", worker.tp)
                    position = worker.position
                    if position is not None:
                        batch = [record for record in batch if record.offset >= position]
                    if not batch:
                        return
                finally:
                    worker.busy = False
            if outage is not None:
                await self._outages.wait_out(outage)
            else:
                await asyncio.sleep(1.0)

    def _is_due(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        if record.topic not in self._retry_topics:
            return True
        due = not_before_s(record.headers)
        return due is None or due <= time.time()

    async def _wait_until_due(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.topic not in self._retry_topics:
            return
        due = not_before_s(record.headers)
        if due is None:
            return
        # Bounded by the longest tier, so a bogus far-future header cannot stall the partition.
        delay = min(due - time.time(), self._longest_delay_s + 1.0)
        if delay > 0:
            await asyncio.sleep(delay)

    def _update_lag(self, worker: _Worker) -> None:
        if worker.position is None or worker.tp not in self._consumer.assignment():
            return
        highwater = self._consumer.highwater(worker.tp)
        if highwater is not None:
            CONSUMER_LAG.labels(self._group, worker.tp.topic, str(worker.tp.partition)).set(
                max(0, highwater - worker.position)
            )


class RevokeAndAssign(ConsumerRebalanceListener):  # type: ignore[misc]
    """Called in aiokafka's coordinator task: revoked before the group re-joins (offsets can
    still be committed then), assigned once it has joined."""

    def __init__(self, group: str, partitions: Partitions, grace_s: float) -> None:
        self._group = group
        self._partitions = partitions
        self._grace_s = grace_s

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            await self._partitions.revoke(revoked, grace_s=self._grace_s)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._partitions.assign(assigned)
        log.info(
            "partitions assigned: %s",
            ", ".join(sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)) or "none",
            extra={"group": self._group},
        )
