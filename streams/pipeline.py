"""The streaming pipeline: records in, per-partition engines, transactional flushes, sinks out.

Independent of Faust: the consumer in :mod:`streams.app` only feeds it fetched records. For
each input partition number it keeps one engine (the domain core that the batch replay runs
too) and the offsets it has applied. A flush commits each changed partition in one Kafka
transaction (state journal + KPI topic + dead letters, see :mod:`streams.state_store`), then
hands the changed KPI sets to the sinks (Redis, Prometheus), whose writes overlap with
applying the next records. Records at or below a partition's applied offsets were applied
before a restart and are skipped: with the transaction, that makes every record count
exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streams import codec
from streams.config import Settings
from streams.domain.engine import COUNTED, Engine, KpiSet
from streams.domain.errors import InvalidRecord
from streams.domain.events import CampaignDefined
from streams.domain.journal import drain
from streams.metrics import PipelineMetrics
from streams.sinks import Flush, Sink
from streams.state_store import PartitionLost, PartitionStore, Record

log = logging.getLogger(__name__)


class InputRecord(Protocol):
    """One consumed Kafka record of an input topic (aiokafka's ``ConsumerRecord``)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # milliseconds since the epoch
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class _Partition:
    store: PartitionStore
    engine: Engine
    offsets: dict[str, int]
    flush_seq: int
    dead_letters: list[Record] = field(default_factory=list)
    changed: bool = False
    # KPI sets to hand to the sinks again after a restore (a crash may have cut a flush
    # between its Kafka commit and its Redis write).
    republish: list[KpiSet] = field(default_factory=list)


class Pipeline:
    """Applies input records and flushes their effects, exactly once."""

    def __init__(
        self,
        settings: Settings,
        sinks: Sequence[Sink],
        metrics: PipelineMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Own no partition until records of one arrive."""
        self.settings = settings
        self.sinks = sinks
        self.metrics = metrics
        self.clock = clock
        self._logical = settings.logical_topics()
        self._partitions: dict[int, _Partition] = {}
        # Records applied since the last flush, and since when something waits to be flushed.
        self._unflushed = 0
        self._waiting_since: float | None = None
        # The last flush's sink writes, running while the next records are applied.
        self._sinking: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect the sinks."""
        for sink in self.sinks:
            await sink.start()

    async def stop(self) -> None:
        """Finish the last sink writes, then release every partition and the sinks."""
        await self.settle()
        await self.release(list(self._partitions))
        for sink in self.sinks:
            await sink.stop()

    @property
    def partitions(self) -> dict[int, dict[str, int]]:
        """Owned partition -> input topic -> last applied offset."""
        return {number: dict(part.offsets) for number, part in self._partitions.items()}

    async def process(self, records: Iterable[InputRecord]) -> None:
        """Apply records in order; rejected ones become dead-letter records.

        Flushes on its own whenever ``batch_max`` records wait, so no flush grows past it.
        """
        metrics = self.metrics
        outcome_counter = metrics.event_outcome
        batch_max = self.settings.batch_max
        now_us = int(self.clock() * 1_000_000)
        for record in records:
            if self._unflushed >= batch_max:
                await self.flush()
            part = self._partitions.get(record.partition)
            if part is None:
                part = await self._open(record.partition)
            logical = self._logical[record.topic]
            if record.offset <= part.offsets.get(record.topic, -1):
                outcome_counter[logical, "skipped"].inc()
                continue
            part.offsets[record.topic] = record.offset
            part.changed = True
            self._waiting()
            self._unflushed += 1
            try:
                event = codec.decode(logical, record.key, record.value, record.timestamp)
                outcome = part.engine.apply(logical, event)
            except InvalidRecord as rejection:
                outcome_counter[logical, "invalid"].inc()
                metrics.invalid.labels(logical, rejection.reason).inc()
                part.dead_letters.append((record.key, self._dead_letter(record, rejection)))
                continue
            outcome_counter[logical, outcome].inc()
            if outcome == COUNTED:
                metrics.event_lag.observe(max(0, now_us - event.occurred_at_us) / 1_000_000)

    def flush_due(self, caught_up: bool) -> bool:
        """Whether to flush now: something waits, and the input is drained or time is up.

        Flushing as soon as the input is drained keeps KPIs fresh under a light load; under a
        heavy one, records pile up while a flush runs, so flushes grow and stay efficient.
        """
        since = self._waiting_since
        return since is not None and (
            caught_up or time.monotonic() - since >= self.settings.flush_interval_s
        )

    def _waiting(self) -> None:
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()

    async def flush(self) -> None:
        """Commit every changed partition, then start writing the changed KPI sets to the sinks.

        The sinks are written in the background, one flush after the other, while the next
        records are applied: the worker's CPU does not sit idle while Redis works.
        """
        self._waiting_since = None
        self._unflushed = 0
        updated_at_ms = int(self.clock() * 1000)
        for_sinks: list[KpiSet] = []
        definitions: dict[str, CampaignDefined] = {}
        for number, part in list(self._partitions.items()):
            if not part.changed and not part.republish:
                continue
            changed_sets, cells = drain(part.engine, part.flush_seq + 1)
            if part.changed:
                try:
                    await part.store.commit(
                        cells,
                        part.offsets,
                        part.flush_seq + 1,
                        [
                            (kpi_set.key.encode(), codec.dumps(kpi_set.to_value(updated_at_ms)))
                            for kpi_set in changed_sets
                        ],
                        part.dead_letters,
                    )
                except PartitionLost as lost:
                    log.warning("%s; dropping its state", lost)
                    await self.release([number])
                    continue
                part.flush_seq += 1
                part.dead_letters = []
                part.changed = False
            changed_keys = {kpi_set.key for kpi_set in changed_sets}
            written = [s for s in part.republish if s.key not in changed_keys] + changed_sets
            part.republish = []
            for_sinks.extend(written)
            for campaign_id in {kpi_set.campaign_id for kpi_set in written}:
                definition = part.engine.campaigns[campaign_id].definition
                if definition is not None:
                    definitions[campaign_id] = definition
        if not for_sinks:
            return
        await self.settle()
        # Committed: the sinks are written while the next records are applied.
        self._sinking = asyncio.create_task(
            self._write_sinks(Flush(for_sinks, updated_at_ms, definitions))
        )

    async def settle(self) -> None:
        """Wait until the last flush is in the sinks (raising the error of its write)."""
        sinking, self._sinking = self._sinking, None
        if sinking is not None:
            await sinking

    async def _write_sinks(self, flush: Flush) -> None:
        for sink in self.sinks:
            started = time.perf_counter()
            await sink.write(flush)
            self.metrics.sink_write.labels(sink.name).observe(time.perf_counter() - started)
        self.metrics.flushes.inc()
        self.metrics.kpi_sets_written.inc(len(flush.kpi_sets))

    async def release(self, partitions: Iterable[int]) -> None:
        """Forget partitions (revoked, or lost to another worker).

        Their unflushed work is redone by the next owner, from the committed state.
        """
        for number in partitions:
            part = self._partitions.pop(number, None)
            if part is not None:
                await part.store.close()
                for sink in self.sinks:
                    sink.forget(part.engine.campaigns)
        self.metrics.partitions_owned.set(len(self._partitions))

    def consumer_lag(
        self, highwater: Callable[[str, int], int | None]
    ) -> Iterator[tuple[str, int, int]]:
        """(logical topic, partition, records not yet applied) of the owned partitions."""
        for number, part in list(self._partitions.items()):
            for topic, logical in self._logical.items():
                end = highwater(topic, number)
                if end is not None:
                    yield logical, number, max(0, end - part.offsets.get(topic, -1) - 1)

    async def _open(self, number: int) -> _Partition:
        store = PartitionStore(self.settings, number)
        restored = await store.open()
        part = _Partition(store, restored.engine, restored.offsets, restored.flush_seq)
        part.republish = list(restored.engine.all_sets())
        if part.republish:
            self._waiting()
        self._partitions[number] = part
        self.metrics.partitions_owned.set(len(self._partitions))
        return part

    @staticmethod
    def _dead_letter(record: InputRecord, rejection: InvalidRecord) -> bytes:
        return codec.encode_dead_letter(
            rejection.reason,
            rejection.detail,
            record.topic,
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
        )
