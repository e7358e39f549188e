"""Where a partition's state and outputs go: one interface, a Kafka and an in-memory store.

A flush of one input partition writes its state cells (the journal, with the partition's
meta cell last), its KPI records, its dead letters and its alert records **all or
nothing**. Opening a partition
fences every earlier writer of it: a worker that was rebalanced away, or frozen and thought
dead, can no longer commit anything. That is the whole exactly-once mechanism: whoever
commits a flush applied its records in order on top of the state it restored.

:class:`MemoryBroker` keeps the same promises in memory, so the pipeline is testable in
process (as stream libraries ship an in-memory state store); the Kafka implementation is
:class:`streams.kafka_store.KafkaPartitionStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streams.journal import RawCell

Record = tuple[bytes | None, bytes | None]


class PartitionLost(Exception):
    """The flush is not committed and this writer may not write the partition again.

    Another writer opened the partition (this one was fenced), or the outcome of the commit
    is unknown. Either way the in-memory state of the partition cannot be trusted: drop it,
    and open the partition again (restoring what was committed) before writing.
    ``fenced``: another writer took the partition over (its owner now, most likely).
    """

    def __init__(self, message: str, *, fenced: bool = False) -> None:
        super().__init__(message)
        self.fenced = fenced


@dataclass(frozen=True, slots=True)
class FlushRecords:
    """Everything one flush of one partition writes, atomically."""

    cells: Sequence[RawCell]
    kpi_records: Sequence[Record] = ()
    dead_letters: Sequence[Record] = ()
    alert_records: Sequence[Record] = ()


class PartitionStore(Protocol):
    """The durable state and the outputs of one input partition number."""

    partition: int

    async def open(self) -> dict[str, bytes]:
        """Fence every earlier writer, then return the live cells (latest value per key)."""

    async def commit(self, flush: FlushRecords) -> None:
        """Write one flush all or nothing; raise :class:`PartitionLost` if it cannot."""

    async def close(self) -> None:
        """Stop writing (an open flush is abandoned, as if never begun)."""


StoreFactory = Callable[[int], PartitionStore]


@dataclass
class MemoryBroker:
    """In-memory stand-in for the state, KPI and dead-letter topics of a deployment.

    ``cells`` is each partition's compacted state; ``kpi_records`` and ``dead_letters``
    every committed output record in commit order. ``fail_next`` makes the next commits
    raise :class:`PartitionLost` (a commit whose outcome is unknown), for tests.
    """

    cells: dict[int, dict[str, bytes]] = field(default_factory=dict)
    kpi_records: list[Record] = field(default_factory=list)
    dead_letters: list[Record] = field(default_factory=list)
    alert_records: list[Record] = field(default_factory=list)
    epochs: dict[int, int] = field(default_factory=dict)
    commits: int = 0
    fail_next: int = 0

    def store(self, partition: int) -> MemoryPartitionStore:
        """A store of one partition (the :data:`StoreFactory` of this broker)."""
        return MemoryPartitionStore(self, partition)


class MemoryPartitionStore:
    """One writer of one partition of a :class:`MemoryBroker`."""

    def __init__(self, broker: MemoryBroker, partition: int) -> None:
        """Nothing is fenced before :meth:`open`."""
        self.broker = broker
        self.partition = partition
        self._epoch: int | None = None

    async def open(self) -> dict[str, bytes]:
        """Take the partition over (earlier writers are fenced) and read its cells."""
        broker = self.broker
        self._epoch = broker.epochs.get(self.partition, 0) + 1
        broker.epochs[self.partition] = self._epoch
        return dict(broker.cells.get(self.partition, {}))

    async def commit(self, flush: FlushRecords) -> None:
        """Apply the flush if this writer still owns the partition."""
        broker = self.broker
        if self._epoch is None or broker.epochs.get(self.partition) != self._epoch:
            raise PartitionLost(
                f"partition {self.partition}: fenced by a newer writer", fenced=True
            )
        if broker.fail_next:
            broker.fail_next -= 1
            self._epoch = None
            raise PartitionLost(f"partition {self.partition}: commit outcome unknown")
        cells = broker.cells.setdefault(self.partition, {})
        for key, value in flush.cells:
            if value is None:
                cells.pop(key, None)
            else:
                cells[key] = value
        broker.kpi_records.extend(flush.kpi_records)
        broker.dead_letters.extend(flush.dead_letters)
        broker.alert_records.extend(flush.alert_records)
        broker.commits += 1

    async def close(self) -> None:
        """Stop writing."""
        self._epoch = None
