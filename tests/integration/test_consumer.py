"""The worker's Kafka consumer, built by Faust with the worker's changes, on the real broker.

What each change does, observed: records of an aborted upstream transaction are not input
(``read_committed``), and a record on a busy partition does not wait behind a fetch the
broker holds for an idle one (the 100 ms fetch wait; Faust's fixed 1,500 ms made it wait).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.app import create_app
from streams.config import Settings
from streams.faust_compat import BatchConsumer

from .support import KafkaAdmin

HELD_BOUND_S = 0.5  # with Faust's 1,500 ms wait a record waited about 1.35 s here


@asynccontextmanager
async def worker_consumer(kafka_bootstrap: str, app_id: str) -> AsyncIterator[AIOKafkaConsumer]:
    """The aiokafka consumer the worker's consumer thread would create, started."""
    app = create_app(Settings.from_env({"KPI_APP_ID": app_id, "KAFKA_BOOTSTRAP": kafka_bootstrap}))
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    transport = cast(aiokafka_driver.Transport, app.transport)
    kafka_consumer = consumer._thread._create_worker_consumer(transport)
    await kafka_consumer.start()
    try:
        yield kafka_consumer
    finally:
        await kafka_consumer.stop()
        consumer._thread.thread_loop.close()  # made by the (never started) consumer thread


async def test_the_worker_consumer_skips_aborted_upstream_records(
    kafka_bootstrap: str, admin: KafkaAdmin, unique_name: str
) -> None:
    """Input is read committed: an upstream producer's aborted transaction is not input."""
    topic = f"{unique_name}-in"
    await admin.create_topics(topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"{unique_name}-tx"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed")
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send_and_wait(topic, b"after")
    finally:
        await producer.stop()

    async with worker_consumer(kafka_bootstrap, unique_name) as kafka_consumer:
        tp = TopicPartition(topic, 0)
        kafka_consumer.assign([tp])
        await kafka_consumer.seek_to_beginning(tp)
        values: list[bytes] = []
        for _ in range(20):
            batch = await kafka_consumer.getmany(tp, timeout_ms=300)
            values += [record.value for record in batch.get(tp, [])]
            if len(values) >= 2:
                break
        assert values == [b"committed", b"after"]


async def test_a_busy_partition_does_not_wait_behind_an_idle_one(
    kafka_bootstrap: str, admin: KafkaAdmin, unique_name: str
) -> None:
    """A record arriving while the only fetch in flight asks for an idle partition.

    aiokafka leaves a partition with records still buffered out of the next fetch; that
    fetch then names the idle partition only, and the broker holds it for the fetch wait.
    A record produced to the busy partition meanwhile is fetched once it returns.
    """
    topic = f"{unique_name}-in"
    await admin.create_topics(topic, partitions=2)
    busy, idle = TopicPartition(topic, 0), TopicPartition(topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    held: list[float] = []
    try:
        async with worker_consumer(kafka_bootstrap, unique_name) as kafka_consumer:
            kafka_consumer.assign([busy, idle])
            await kafka_consumer.seek_to_end(busy, idle)
            for _ in range(5):
                await producer.send(topic, b"first", partition=0)
                await producer.send_and_wait(topic, b"second", partition=0)
                await asyncio.sleep(0.2)
                first = await kafka_consumer.getmany(max_records=1, timeout_ms=5000)
                assert [r.value for r in first.get(busy, [])] == [b"first"]
                await asyncio.sleep(0.05)  # "second" is buffered: the fetch asks for idle only
                second = await kafka_consumer.getmany(timeout_ms=5000)
                assert [r.value for r in second.get(busy, [])] == [b"second"]
                await producer.send_and_wait(topic, b"third", partition=0)
                started = time.monotonic()
                third = await kafka_consumer.getmany(timeout_ms=5000)
                held.append(round(time.monotonic() - started, 3))
                assert [r.value for r in third.get(busy, [])] == [b"third"]
    finally:
        await producer.stop()
    assert max(held) < HELD_BOUND_S, held
