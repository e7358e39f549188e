"""The streaming pipeline: records in, per-partition engines, transactional flushes, sinks out.

Independent of Faust (the agent in :mod:`streams.app` only feeds it), so the same path is
driven by tests and benchmarks. For each input partition number it keeps one engine (the
domain core that the batch replay runs too) and the offsets it has applied. A flush commits
each changed partition in one Kafka transaction (state journal + KPI topic + dead letters,
see :mod:`streams.state_store`), then hands the changed KPI sets to the sinks (Redis,
Prometheus). Records at or below a partition's applied offsets were applied before a restart
and are skipped: with the transaction, that makes every record count exactly once.
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
from streams.domain.journal import Cell, drain
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
    offsets: dict[str, int]  # applied
    committed: dict[str, int]  # applied and committed in the state topic
    flush_seq: int
    dead_letters: list[Record] = field(default_factory=list)
    changed: bool = False
    # KPI sets to hand to the sinks again after a restore (a crash may have cut a flush
    # between its Kafka commit and its Redis write).
    republish: list[KpiSet] = field(default_factory=list)


# One partition's transaction: journal cells, applied offsets, flush number, KPI records and
# dead letters.
Transaction = tuple[list[Cell], dict[str, int], int, list[Record], list[Record]]


@dataclass(slots=True)
class _Capture:
    """What one flush writes for one partition, captured before it is written."""

    number: int
    part: _Partition
    changed_sets: list[KpiSet]
    republish: list[KpiSet]
    transaction: Transaction | None = None


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
        # The last flush's transactions and sink writes, running in the background.
        self._writing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect the sinks."""
        for sink in self.sinks:
            await sink.start()

    async def stop(self) -> None:
        """Release every partition and the sinks."""
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
        """Capture every changed partition's flush, then write it while processing goes on.

        The capture (journal cells, KPI records, offsets) is taken now; its Kafka
        transactions (concurrent across partitions, each waiting on the broker) and then
        its sink writes run in the background, after those of the previous flush, while
        the next records are applied. :meth:`settle` waits for them.
        """
        self._waiting_since = None
        self._unflushed = 0
        updated_at_ms = int(self.clock() * 1000)
        captured = [
            self._capture(number, part, updated_at_ms)
            for number, part in self._partitions.items()
            if part.changed or part.republish
        ]
        await self.settle()
        if captured:
            self._writing = asyncio.create_task(self._write(captured, updated_at_ms))

    async def settle(self) -> None:
        """Wait until the last flush is committed and in the sinks (raising its error)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    @property
    def committed(self) -> dict[int, dict[str, int]]:
        """Owned partition -> input topic -> last offset committed in the state topic."""
        return {number: dict(part.committed) for number, part in self._partitions.items()}

    def _capture(self, number: int, part: _Partition, updated_at_ms: int) -> _Capture:
        changed_sets, cells = drain(part.engine, part.flush_seq + 1)
        capture = _Capture(number, part, changed_sets, republish=part.republish)
        part.republish = []
        if part.changed:
            part.flush_seq += 1
            capture.transaction = (
                cells,
                dict(part.offsets),
                part.flush_seq,
                [
                    (kpi_set.key.encode(), codec.dumps(kpi_set.to_value(updated_at_ms)))
                    for kpi_set in changed_sets
                ],
                part.dead_letters,
            )
            part.dead_letters = []
            part.changed = False
        return capture

    async def _write(self, captured: list[_Capture], updated_at_ms: int) -> None:
        committed = await asyncio.gather(*(self._commit(capture) for capture in captured))
        for_sinks: list[KpiSet] = []
        definitions: dict[str, CampaignDefined] = {}
        for capture, ok in zip(captured, committed, strict=True):
            if not ok:
                await self._release([capture.number])
                continue
            changed_keys = {kpi_set.key for kpi_set in capture.changed_sets}
            written = [s for s in capture.republish if s.key not in changed_keys]
            written += capture.changed_sets
            for_sinks.extend(written)
            campaigns = capture.part.engine.campaigns
            for campaign_id in {kpi_set.campaign_id for kpi_set in written}:
                definition = campaigns[campaign_id].definition
                if definition is not None:
                    definitions[campaign_id] = definition
        if not for_sinks:
            return
        flush = Flush(for_sinks, updated_at_ms, definitions)
        for sink in self.sinks:
            started = time.perf_counter()
            await sink.write(flush)
            self.metrics.sink_write.labels(sink.name).observe(time.perf_counter() - started)
        self.metrics.flushes.inc()
        self.metrics.kpi_sets_written.inc(len(for_sinks))

    @staticmethod
    async def _commit(capture: _Capture) -> bool:
        """Commit one partition's transaction, if it has one; False if the partition was lost."""
        if capture.transaction is None:
            return True
        try:
            await capture.part.store.commit(*capture.transaction)
        except PartitionLost as lost:
            log.warning("%s; dropping its state", lost)
            return False
        capture.part.committed = capture.transaction[1]
        return True

    async def release(self, partitions: Iterable[int]) -> None:
        """Forget partitions (revoked, or lost to another worker), once the last flush is done.

        Their unflushed work is redone by the next owner, from the committed state.
        """
        await self.settle()
        await self._release(partitions)

    async def _release(self, partitions: Iterable[int]) -> None:
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
        part = _Partition(
            store, restored.engine, restored.offsets, dict(restored.offsets), restored.flush_seq
        )
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
