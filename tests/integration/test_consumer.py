"""The worker's Kafka consumer: what it changes in Faust's, checked on the objects Faust builds."""

from __future__ import annotations

from typing import cast

from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.app import FETCH_MAX_WAIT_MS, BatchConsumer, create_app
from streams.config import Settings


async def test_the_worker_consumer_batches_and_waits_briefly_for_fetches() -> None:
    app = create_app(Settings.from_env({"KPI_APP_ID": "consumer-test"}))
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    # Faust's own setting is 1,500 ms: records would wait behind a fetch held on idle topics.
    transport = cast(aiokafka_driver.Transport, app.transport)
    kafka_consumer = consumer._thread._create_worker_consumer(transport)
    try:
        assert kafka_consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
    finally:
        await kafka_consumer.stop()
        consumer._thread.thread_loop.close()  # made by the (never started) consumer thread
