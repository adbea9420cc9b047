"""Offset commits for the consumer's partitions: only for records with a final outcome.

Offsets are committed as explicit `{partition: offset + 1}` — never a bare `commit()`, which
commits everything fetched. Commits are batched (every `_COMMIT_INTERVAL_S` at most by
`commit_continuously`) and flushed by `partitions.py` when partitions are revoked and on
shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

__all__ = ["OffsetCommits"]

log = logging.getLogger(__name__)

_COMMIT_INTERVAL_S = 0.1


class OffsetCommits:
    def __init__(self, group: str, consumer: AIOKafkaConsumer) -> None:
        self._group = group
        self._consumer = consumer
        self._pending: dict[TopicPartition, int] = {}
        self._commit_wanted = asyncio.Event()
        self._commit_lock = asyncio.Lock()

    def want(self, tp: TopicPartition, next_offset: int) -> None:
        """Every record of `tp` before `next_offset` has a final outcome."""
        self._pending[tp] = next_offset
        self._commit_wanted.set()

    def forget(self, tp: TopicPartition) -> None:
        self._pending.pop(tp, None)

    async def commit_continuously(self) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self.commit()
            await asyncio.sleep(_COMMIT_INTERVAL_S)

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        async with self._commit_lock:
            assigned = self._consumer.assignment()
            offsets = {
                tp: offset
                for tp, offset in self._pending.items()
                if tp in assigned and (only is None or tp in only)
            }
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as error:
                # The group moved on: the partitions' next owner re-processes from the last
                # committed offset, and the inbox deduplicates.
                log.warning("offset commit refused: %r", error, extra={"group": self._group})
            except KafkaError as error:
                log.warning("offset commit failed: %r", error, extra={"group": self._group})
                self._commit_wanted.set()
                return
            for tp, offset in offsets.items():
                if self._pending.get(tp) == offset:
                    del self._pending[tp]
