"""The Faust application: ``create_app(settings)`` wires the ingest agent, sinks and metrics.

Faust gives the consumer group, co-partitioned assignment of the six input topics, the
agent, rebalance signals and the web server (``/metrics``). Windows, lateness, dedup and
state are ours (see docs/architecture.md): the agent hands batches of raw records to the
:class:`~streams.pipeline.Pipeline` and acknowledges them only once their flush is committed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import faust
from faust.streams import Stream
from faust.types import TP, EventT, StreamT
from faust.web import Request, Response, View
from mode.types.signals import BaseSignalT
from prometheus_client import CollectorRegistry, generate_latest

from streams.config import Settings
from streams.metrics import PipelineMetrics
from streams.pipeline import InputRecord, Pipeline
from streams.sinks import Sink
from streams.sinks.prometheus import PrometheusSink
from streams.sinks.redis import RedisSink
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

# The text exposition format; aiohttp takes the charset apart from the type (UTF-8 default).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


class KpiApp(faust.App):
    """A Faust app that also holds the pipeline and the metrics registry it serves."""

    settings: Settings
    pipeline: Pipeline
    registry: CollectorRegistry
    # Set by the worker process: ends the whole process (non-zero exit) on a fatal error.
    on_fatal: Callable[[BaseException], None] | None = None

    async def on_first_start(self) -> None:
        """Create missing topics before the consumer subscribes."""
        await ensure_topics(self.settings)
        await super().on_first_start()

    async def on_start(self) -> None:
        """Connect the sinks."""
        await super().on_start()
        await self.pipeline.start()

    async def on_stop(self) -> None:
        """Release partitions and sinks."""
        await self.pipeline.stop()
        await super().on_stop()


def create_app(settings: Settings) -> KpiApp:
    """Build the worker's Faust app from one Settings object."""
    app = KpiApp(
        settings.app_id,
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        store="memory://",
        autodiscover=False,
        datadir=settings.data_dir,
        web_enabled=True,
        web_host=settings.web_bind,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 3,
        stream_buffer_maxsize=max(4096, settings.batch_max),
    )
    app.settings = settings
    app.registry = CollectorRegistry()
    metrics = PipelineMetrics(app.registry)
    redis_sink = RedisSink(settings, on_error=lambda _: metrics.sink_errors.labels("redis").inc())
    sinks: list[Sink] = [redis_sink, PrometheusSink(app.registry, settings.metrics_campaigns)]
    app.pipeline = pipeline = Pipeline(settings, sinks, metrics)
    metrics.watch_consumer_lag(app.registry, lambda: pipeline.consumer_lag(_highwater(app)))

    inputs = app.topic(
        *settings.logical_topics(),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )

    @app.agent(inputs, name="ingest")
    async def ingest(stream: StreamT[Any]) -> None:
        """Apply each batch, flush it, and only then acknowledge its records."""
        batches: AsyncIterator[Sequence[EventT[Any]]] = cast(Stream[Any], stream).noack_take(
            settings.batch_max, within=settings.flush_interval_s
        )
        try:
            async for events in batches:
                generation = app.consumer_generation_id
                await pipeline.process(_current(app, events, generation))
                await pipeline.flush()
                owned = pipeline.partitions
                for event in events:
                    message = event.message
                    if message.generation_id == generation and message.partition in owned:
                        await stream.ack(event)
        except Exception as error:
            # Crash-only: a restarted worker resumes exactly from its last committed flush,
            # whereas carrying on after an unknown failure could skip a batch.
            log.critical("worker stopping after an unexpected error: %r; restart it", error)
            if app.on_fatal is not None:
                app.on_fatal(error)
            await app.crash(error)
            raise

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode types its own Signal narrowly
    async def on_assigned(
        sender: Any, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        """Drop the state of partitions that went to another worker."""
        assigned: set[TP] = args[0]
        kept = {tp.partition for tp in assigned}
        await pipeline.release(p for p in list(pipeline.partitions) if p not in kept)

    @app.page("/metrics")
    async def metrics_page(web: View, request: Request) -> Response:
        """Prometheus exposition of the worker's registry."""
        return web.bytes(generate_latest(app.registry), content_type=METRICS_CONTENT_TYPE)

    return app


def _current(app: KpiApp, events: Iterable[EventT[Any]], generation: int) -> Iterator[InputRecord]:
    """The records of the events fetched in the current consumer generation.

    Events fetched before a rebalance are dropped unacknowledged: Faust fetches them again
    from the committed offsets, in order.
    """
    for event in events:
        message = event.message
        if message.generation_id != generation or app.consumer_generation_id != generation:
            continue
        timestamp = message.timestamp
        yield InputRecord(
            message.topic,
            message.partition,
            message.offset,
            None if timestamp is None else round(timestamp * 1000),
            message.key,
            message.value,
        )


def _highwater(app: KpiApp) -> Any:
    def read(topic: str, partition: int) -> int | None:
        try:
            value = app.consumer.highwater(TP(topic, partition))
        except (AssertionError, KeyError, RuntimeError):
            return None
        return None if value is None else int(value)

    return read
