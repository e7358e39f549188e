"""A partition's state and outputs in Kafka: one transaction per flush (see streams.storage).

The transactional id is fixed per partition (``<prefix><app_id>-kpi-<partition>``), so
whoever opens a partition fences its previous owner — a crashed, rebalanced-away or frozen
worker — and aborts its open transaction, before reading the state back with
``read_committed``. A transaction commits only once every record it holds was accepted by
the broker; a failure leads to an abort, and when even the abort fails the partition is
reported lost (:class:`~streams.storage.PartitionLost`) instead of the producer being
restarted: restarting it would fence the partition's rightful owner and write state built
from memory that may be stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, KafkaError, ProducerFenced
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from streams.config import Settings
from streams.connections import kafka_options
from streams.faults import fault_point
from streams.retry import retry_forever
from streams.storage import FlushRecords, PartitionLost

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES: Final = 1024 * 1024
"""Largest produce request; every record a flush writes is far smaller (they are bounded)."""
_BATCH_BYTES: Final = 512 * 1024
_READ_STALL_S: Final = 60.0
# A flush whose transaction cannot end within this time is given up (reported lost); the
# broker aborts it after the transaction timeout anyway.
_ATTEMPTS: Final = 3
# What a commit raises when a newer producer of the transactional id took the partition over.
_FENCED: Final = (ProducerFenced, InvalidProducerEpoch)

_PARTITIONER: Final = DefaultPartitioner()
# The same KPI keys come back flush after flush; murmur2 in Python is not free.
_PARTITION_CACHE: dict[tuple[bytes, int], int] = {}
_PARTITION_CACHE_MAX: Final = 1 << 18


def partition_of(key: bytes | None, count: int) -> int:
    """Kafka's default partition of a key (murmur2), cached per key and partition count."""
    partitions = list(range(count))
    if key is None:
        return int(_PARTITIONER(key, partitions, partitions))
    cached = _PARTITION_CACHE.get((key, count))
    if cached is None:
        if len(_PARTITION_CACHE) >= _PARTITION_CACHE_MAX:
            _PARTITION_CACHE.clear()
        cached = _PARTITION_CACHE[key, count] = int(_PARTITIONER(key, partitions, partitions))
    return cached


@dataclass(frozen=True, slots=True)
class StateRead:
    """What opening a partition read from its state topic.

    ``records`` counts every record read, overwritten values and tombstones included: beside
    ``cells`` (the live ones) it shows how much history the log cleaner has left to read.
    """

    records: int
    bytes: int  # keys and values
    cells: int
    seconds: float


class KafkaPartitionStore:
    """The state-topic partition and transactional producer of one partition number."""

    def __init__(self, settings: Settings, partition: int) -> None:
        """Nothing connects before :meth:`open`."""
        self.settings = settings
        self.partition = partition
        self.transactional_id = f"{settings.topic_prefix}{settings.app_id}-kpi-{partition}"
        self._producer: AIOKafkaProducer | None = None
        self.last_read: StateRead | None = None

    async def open(self) -> dict[str, bytes]:
        """Fence the previous owner, then read the committed cells back."""
        await self.close()
        self._producer = await retry_forever(
            self._start_producer,
            what=f"partition {self.partition}: opening the transactional producer",
            transient=(KafkaError, OSError),
            log=log,
        )
        return await retry_forever(
            self._read_cells,
            what=f"partition {self.partition}: reading the state topic",
            transient=(KafkaError, OSError),
            log=log,
        )

    async def commit(self, flush: FlushRecords) -> None:
        """Write one flush in one transaction; PartitionLost when that cannot be done."""
        producer = self._producer
        if producer is None:
            raise PartitionLost(f"partition {self.partition}: not open")
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                await asyncio.wait_for(
                    self._transaction(producer, flush), 2 * self.settings.transaction_timeout_s
                )
                return
            except Exception as error:  # aiokafka raises IllegalOperation once fenced, too
                if attempt == _ATTEMPTS or not await self._abort(producer):
                    await self.close()
                    raise PartitionLost(
                        f"partition {self.partition}: flush not committed ({error!r}); "
                        "its state will be restored from the last committed flush",
                        fenced=isinstance(error, _FENCED),
                    ) from error
                log.warning(
                    "partition %d: flush not committed (%r), aborted; trying again",
                    self.partition, error,
                )
                await asyncio.sleep(0.1 * 2**attempt)

    async def close(self) -> None:
        """Stop the producer; an open transaction is aborted by the next owner."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError as error:  # stopping a fenced producer may complain
                log.debug("partition %d: producer stop: %r", self.partition, error)

    async def _transaction(self, producer: AIOKafkaProducer, flush: FlushRecords) -> None:
        settings = self.settings
        await producer.begin_transaction()
        deliveries = [
            *await self._send(producer, settings.state_topic_name, flush.cells, self.partition),
            *await self._send(producer, settings.kpi_topic_name, flush.kpi_records),
            *await self._send(producer, settings.dlq_topic_name, flush.dead_letters),
            *await self._send(producer, settings.alerts_topic_name, flush.alert_records),
        ]
        await fault_point(settings, "mid_flush")
        # Every record accepted before the commit: a refused one fails the whole flush (every
        # delivery is awaited, so none is left with an exception nobody retrieves).
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        refused = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if refused is not None:
            raise refused
        await producer.commit_transaction()

    async def _abort(self, producer: AIOKafkaProducer) -> bool:
        try:
            await asyncio.wait_for(
                producer.abort_transaction(), 2 * self.settings.transaction_timeout_s
            )
        except Exception as error:
            log.warning("partition %d: abort failed (%r)", self.partition, error)
            return False
        return True

    @staticmethod
    async def _send(
        producer: AIOKafkaProducer,
        topic: str,
        records: Sequence[tuple[Any, bytes | None]],
        partition: int | None = None,
    ) -> list[asyncio.Future[Any]]:
        """Append records to per-partition batches (far cheaper than one ``send`` each).

        Without ``partition``, each record goes where Kafka's default partitioner puts its
        key, as ``send`` would. Returns the delivery futures.
        """
        if not records:
            return []
        count = len(await producer.partitions_for(topic))
        batches: dict[int, Any] = defaultdict(producer.create_batch)
        deliveries = []
        for key, value in records:
            raw_key = key.encode() if isinstance(key, str) else key
            target = partition if partition is not None else partition_of(raw_key, count)
            batch = batches[target]
            if batch.append(key=raw_key, value=value, timestamp=None) is None:  # full
                deliveries.append(await producer.send_batch(batch, topic, partition=target))
                batch = batches[target] = producer.create_batch()
                batch.append(key=raw_key, value=value, timestamp=None)
        for target, batch in batches.items():
            deliveries.append(await producer.send_batch(batch, topic, partition=target))
        return deliveries

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **kafka_options(self.settings),
            transactional_id=self.transactional_id,
            transaction_timeout_ms=int(self.settings.transaction_timeout_s * 1000),
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_request_size=MAX_REQUEST_BYTES,
            max_batch_size=_BATCH_BYTES,
        )
        try:
            await producer.start()  # init_transactions: fences the previous owner
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _read_cells(self) -> dict[str, bytes]:
        consumer = AIOKafkaConsumer(
            **kafka_options(self.settings),
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        )
        await consumer.start()
        try:
            tp = TopicPartition(self.settings.state_topic_name, self.partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            cells: dict[str, bytes] = {}
            records = size = 0
            loop = asyncio.get_running_loop()
            started = last_progress = loop.time()
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for message in batch.get(tp, []):
                    raw_key, value = message.key, message.value
                    key = raw_key.decode() if raw_key is not None else ""
                    records += 1
                    size += len(raw_key or b"") + len(value or b"")
                    if value is None:
                        cells.pop(key, None)
                    else:
                        cells[key] = value
                if batch:
                    last_progress = loop.time()
                elif loop.time() - last_progress > _READ_STALL_S:
                    raise KafkaError(f"state topic {tp} stalled before offset {end}")
            self.last_read = StateRead(records, size, len(cells), loop.time() - started)
            log.info(
                "partition %d: read %d state records (%.1f MB) in %.1f s: %d live cells",
                self.partition, records, size / 1e6, self.last_read.seconds, len(cells),
            )
            return cells
        finally:
            await consumer.stop()
