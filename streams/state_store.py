"""Durable state of one input partition, and exactly-once output through Kafka transactions.

Each flush of a partition is ONE Kafka transaction that writes the journal cells of its state
(:mod:`streams.domain.journal`) and the offsets applied so far to the compacted state topic,
together with the flush's KPI records and dead-letter records. The transactional id is fixed
per partition, so whoever opens a partition fences its previous owner (a crashed or
rebalanced-away worker) before reading the state back with ``read_committed``: state and
outputs are either both there or both absent, and every input record is applied exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from streams import codec
from streams.config import Settings
from streams.domain.engine import Engine
from streams.domain.journal import Cell, restore
from streams.topics import STATE_MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

_READ_STALL_S = 60.0
_RETRY_MAX_S = 5.0

Record = tuple[bytes | None, bytes | None]
_PARTITIONER = DefaultPartitioner()
# The same KPI keys come back flush after flush; murmur2 in Python is not free.
_PARTITION_CACHE: dict[tuple[bytes, int], int] = {}
_PARTITION_CACHE_MAX = 1 << 18


def _partition_of(key: bytes | None, partitions: list[int]) -> int:
    """Kafka's default partition of a key (murmur2), cached per key and partition count."""
    if key is None:
        return int(_PARTITIONER(key, partitions, partitions))
    cached = _PARTITION_CACHE.get((key, len(partitions)))
    if cached is None:
        if len(_PARTITION_CACHE) >= _PARTITION_CACHE_MAX:
            _PARTITION_CACHE.clear()
        cached = _PARTITION_CACHE[key, len(partitions)] = int(
            _PARTITIONER(key, partitions, partitions)
        )
    return cached


class PartitionLost(Exception):
    """Another worker owns the partition now (this producer was fenced)."""


@dataclass(slots=True)
class Restored:
    """What a partition's state topic held."""

    engine: Engine
    offsets: dict[str, int]  # input topic name -> last applied offset
    flush_seq: int


class PartitionStore:
    """The state topic and transactional producer of one partition number."""

    def __init__(self, settings: Settings, partition: int) -> None:
        """Nothing connects before :meth:`open`."""
        self.settings = settings
        self.partition = partition
        self.transactional_id = f"{settings.app_id}-kpi-{partition}"
        self._meta_key = f"p|{partition}".encode()
        self._producer: AIOKafkaProducer | None = None

    async def open(self) -> Restored:
        """Fence the previous owner, then read the committed state back."""
        await self._start_producer()
        cells = await self._read_cells()
        meta = cells.pop(self._meta_key.decode(), None) or {"offsets": {}, "seq": 0}
        engine = restore(self.settings.rules(), cells)
        log.info(
            "partition %d: state restored (%d campaigns, %d cells, flush %d)",
            self.partition, len(engine.campaigns), len(cells), meta["seq"],
        )
        return Restored(engine, dict(meta["offsets"]), int(meta["seq"]))

    async def commit(
        self,
        cells: Sequence[Cell],
        offsets: dict[str, int],
        flush_seq: int,
        kpi_records: Sequence[Record],
        dead_letters: Sequence[Record],
    ) -> None:
        """Write one flush atomically; retry transient failures until it is committed.

        Raises :class:`PartitionLost` when another worker has taken the partition.
        """
        delay_s = 0.1
        while True:
            try:
                await self._write(cells, offsets, flush_seq, kpi_records, dead_letters)
                return
            except ProducerFenced as fenced:
                raise PartitionLost(f"partition {self.partition}: {fenced}") from fenced
            except KafkaError as error:
                log.warning(
                    "partition %d: flush %d not committed (%r); retrying in %.1f s",
                    self.partition, flush_seq, error, delay_s,
                )
                await asyncio.sleep(delay_s)
                delay_s = min(2 * delay_s, _RETRY_MAX_S)
                # A failed transaction leaves the producer unusable: start a new one, which
                # also aborts whatever the failed one left open.
                await self._start_producer()

    async def close(self) -> None:
        """Stop the producer; an open transaction is aborted by the next owner."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await producer.stop()
            except KafkaError as error:  # closing a fenced producer may complain
                log.debug("partition %d: producer stop: %r", self.partition, error)

    async def _write(
        self,
        cells: Sequence[Cell],
        offsets: dict[str, int],
        flush_seq: int,
        kpi_records: Sequence[Record],
        dead_letters: Sequence[Record],
    ) -> None:
        producer = self._producer
        assert producer is not None, "open() first"
        settings = self.settings
        state = [
            (key.encode(), None if value is None else codec.dumps(value)) for key, value in cells
        ]
        state.append((self._meta_key, codec.dumps({"offsets": offsets, "seq": flush_seq})))
        async with producer.transaction():
            await self._send_batched(producer, settings.state_topic_name, state, self.partition)
            await self._send_batched(producer, settings.kpi_topic_name, kpi_records)
            await self._send_batched(producer, settings.dlq_topic_name, dead_letters)

    @staticmethod
    async def _send_batched(
        producer: AIOKafkaProducer,
        topic: str,
        records: Sequence[Record],
        partition: int | None = None,
    ) -> None:
        """Append records to per-partition batches: far cheaper than one ``send`` each.

        Without ``partition``, each record goes where Kafka's default partitioner puts its
        key (murmur2), as ``send`` would.
        """
        if not records:
            return
        partitions = sorted(await producer.partitions_for(topic))
        batches: dict[int, Any] = {}
        for key, value in records:
            target = partition if partition is not None else _partition_of(key, partitions)
            batch = batches.get(target)
            if batch is None:
                batch = batches[target] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                await producer.send_batch(batch, topic, partition=target)
                batch = batches[target] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for target, batch in batches.items():
            await producer.send_batch(batch, topic, partition=target)

    async def _start_producer(self) -> None:
        await self.close()
        delay_s = 0.1
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                transactional_id=self.transactional_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=5,
                max_request_size=STATE_MAX_MESSAGE_BYTES,
                max_batch_size=1 << 20,
            )
            try:
                await producer.start()  # init_transactions: fences the previous owner
            except KafkaError as error:
                await producer.stop()
                log.warning(
                    "partition %d: Kafka unavailable (%r); retrying in %.1f s",
                    self.partition, error, delay_s,
                )
                await asyncio.sleep(delay_s)
                delay_s = min(2 * delay_s, _RETRY_MAX_S)
                continue
            self._producer = producer
            return

    async def _read_cells(self) -> dict[str, Any]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=STATE_MAX_MESSAGE_BYTES,
            fetch_max_bytes=2 * STATE_MAX_MESSAGE_BYTES,
        )
        await consumer.start()
        try:
            tp = TopicPartition(self.settings.state_topic_name, self.partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            cells: dict[str, Any] = {}
            loop = asyncio.get_running_loop()
            last_progress = loop.time()
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for message in batch.get(tp, []):
                    key = message.key.decode() if message.key is not None else ""
                    if message.value is None:
                        cells.pop(key, None)
                    else:
                        cells[key] = codec.loads(message.value)
                if batch:
                    last_progress = loop.time()
                elif loop.time() - last_progress > _READ_STALL_S:
                    raise KafkaError(f"state topic {tp} stalled before offset {end}")
            return cells
        finally:
            await consumer.stop()
