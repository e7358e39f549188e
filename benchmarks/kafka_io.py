"""Kafka plumbing shared by the benchmarks: topics, fast batched producing, offsets, /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from benchmarks.workload import Record

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    """Create input topics (records up to 2 MiB, as the worker's own topics)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for name in names:
            topic = NewTopic(name, partitions, 1, topic_configs={"max.message.bytes": "2097152"})
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix``; return their names."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


class BatchProducer:
    """Appends records to per-partition batches and sends full ones (no per-record future)."""

    def __init__(self, bootstrap: str, topic_name: Callable[[str], str], partitions: int) -> None:
        """``topic_name`` maps a logical topic to the full topic name."""
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks=1,
            linger_ms=5,
            max_batch_size=1 << 20,
            max_request_size=4 << 20,
        )
        self.topic_name = topic_name
        self.partitions = list(range(partitions))
        self._partition_of: dict[bytes, int] = {}
        self._batches: dict[tuple[str, int], Any] = {}
        self._pending: list[asyncio.Future[Any]] = []
        self.sent = 0

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.flush()
        await self.producer.stop()

    def _partition(self, key: bytes) -> int:
        partition = self._partition_of.get(key)
        if partition is None:
            # The Java client's murmur2 partitioner: a campaign lands on the same partition
            # of every input topic (co-partitioning), as with any Kafka producer.
            partition = DefaultPartitioner()(key, self.partitions, self.partitions)
            self._partition_of[key] = partition
        return int(partition)

    async def add(self, record: Record) -> None:
        """Queue one record; send its batch when full."""
        where = (self.topic_name(record.topic), self._partition(record.key))
        batch = self._batches.get(where)
        if batch is None:
            batch = self._batches[where] = self.producer.create_batch()
        if batch.append(key=record.key, value=record.value, timestamp=record.timestamp_ms) is None:
            await self._send(where, batch)
            batch = self._batches[where] = self.producer.create_batch()
            batch.append(key=record.key, value=record.value, timestamp=record.timestamp_ms)
        self.sent += 1

    async def _send(self, where: tuple[str, int], batch: Any) -> None:
        batch.close()
        self._pending.append(await self.producer.send_batch(batch, where[0], partition=where[1]))
        if len(self._pending) > 64:
            await asyncio.gather(*self._pending)
            self._pending = []

    async def flush(self) -> None:
        """Send every open batch and wait until the broker has them."""
        batches, self._batches = self._batches, {}
        for where, batch in batches.items():
            await self._send(where, batch)
        await asyncio.gather(*self._pending)
        self._pending = []


async def end_offsets(bootstrap: str, topics: Sequence[str], partitions: int) -> int:
    """Total records in the topics (sum of end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        return int(sum((await consumer.end_offsets(tps)).values()))
    finally:
        await consumer.stop()


async def read_committed(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every committed record of a topic (all partitions), as (key, value), in order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    try:
        # The consumer subscribes to nothing: only a metadata fetch of its own names them.
        found = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in sorted(found.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[tuple[bytes | None, bytes]] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500, max_records=20_000)
            for batch in batches.values():
                records.extend((r.key, r.value) for r in batch)
            # Transaction markers take offsets too: the position, not a count, says done.
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return records
    finally:
        await consumer.stop()


class GroupOffsets:
    """Committed offsets of a consumer group over the input topics."""

    def __init__(self, bootstrap: str, group: str, topics: Sequence[str], partitions: int):
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.group = group
        self.tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]

    async def start(self) -> None:
        await self.admin.start()

    async def stop(self) -> None:
        await self.admin.close()

    async def committed(self) -> int:
        offsets = await self.admin.list_consumer_group_offsets(self.group)
        return int(sum(offsets[tp].offset for tp in self.tps if tp in offsets))


@dataclass(frozen=True, slots=True)
class ProcSample:
    """CPU seconds (user + system) and peak RSS of a process at one instant."""

    at: float
    cpu_s: float
    peak_rss_bytes: int


def sample_process(pid: int) -> ProcSample:
    """Read /proc/<pid>/stat (utime, stime) and /proc/<pid>/status (VmHWM)."""
    now = time.monotonic()
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may contain spaces: split after its closing parenthesis.
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return ProcSample(now, cpu_s, peak_rss(pid))


def peak_rss(pid: int | str = "self") -> int:
    """VmHWM (peak resident set size) in bytes."""
    return _status_bytes(pid, "VmHWM:")


def resident(pid: int | str = "self") -> int:
    """VmRSS (resident set size now) in bytes."""
    return _status_bytes(pid, "VmRSS:")


def _status_bytes(pid: int | str, name: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(name):
                return int(line.split()[1]) * 1024
    return 0
