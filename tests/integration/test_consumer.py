"""The worker's Kafka consumer, built by Faust with the worker's changes, on the real broker."""

from __future__ import annotations

from typing import cast

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.app import create_app
from streams.config import Settings
from streams.faust_compat import BatchConsumer

from .support import KafkaAdmin


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

    app = create_app(Settings.from_env({"KPI_APP_ID": unique_name,
                                        "KAFKA_BOOTSTRAP": kafka_bootstrap}))
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    transport = cast(aiokafka_driver.Transport, app.transport)
    kafka_consumer = consumer._thread._create_worker_consumer(transport)
    await kafka_consumer.start()
    try:
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
    finally:
        await kafka_consumer.stop()
        consumer._thread.thread_loop.close()  # made by the (never started) consumer thread
