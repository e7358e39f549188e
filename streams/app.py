"""The Faust application: ``create_app(settings)`` wires the consumer, sinks and metrics.

Faust gives the consumer group, co-partitioned assignment of the six input topics, its
consumer thread, rebalance signals and the web server (``/metrics``). Windows, lateness,
dedup and state are ours (see docs/architecture.md). Records reach the
:class:`~streams.pipeline.Pipeline` a whole fetch at a time, from :class:`BatchConsumer`,
not one event at a time through an agent's stream: Faust's per-event hand-off alone costs
more than all our processing (docs/architecture.md, "Why no agent").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.transports import TransportT
from faust.web import Request, Response, View
from mode import ServiceT
from mode.types.signals import BaseSignalT
from prometheus_client import CollectorRegistry, generate_latest

from streams.config import Settings
from streams.metrics import PipelineMetrics
from streams.pipeline import Pipeline
from streams.sinks import Sink
from streams.sinks.prometheus import PrometheusSink
from streams.sinks.redis import RedisSink
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

# The text exposition format; aiohttp takes the charset apart from the type (UTF-8 default).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


# How long the broker may hold a fetch that finds no new records. aiokafka has one fetch
# in flight per broker, so while it is held, records arriving on other partitions wait too:
# Faust's fixed 1,500 ms put whole seconds into the KPIs' freshness.
FETCH_MAX_WAIT_MS: Final = 100


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, with a short fetch wait (Faust has no setting for it)."""

    def _create_worker_consumer(self, transport: aiokafka_driver.Transport) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read when the consumer starts, which is after this.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class BatchConsumer(aiokafka_driver.Consumer):
    """Faust's Kafka consumer, handing each fetch whole to the pipeline.

    Replaces Faust's fetcher loop, which awaits two new tasks per record before an agent's
    stream sees it; everything else (group membership, assignment, flow control around
    rebalances, seeking to committed offsets) stays Faust's.
    """

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        app = cast(KpiApp, self.app)
        pipeline = app.pipeline
        poll_s = min(1.0, app.settings.flush_interval_s)
        committed: dict[TP, int] = {}
        try:
            while not (self.should_stop or fetcher.should_stop):
                generation = app.consumer_generation_id
                records, _ = await self._wait_next_records(poll_s)
                # Fetched across a rebalance: dropped; Faust seeks back to the committed
                # offsets before it resumes the flow, so they come again.
                current = self.flow_active and app.consumer_generation_id == generation
                if records and current:
                    await pipeline.process(
                        record for _, record in self.scheduler.iterate(records)
                    )
                if pipeline.flush_due(caught_up=not records or self._caught_up(records)):
                    await pipeline.flush()
                    await self._commit_applied(committed)
                if not records:  # idle: let the sinks finish (and raise a failed write)
                    await pipeline.settle()
        except self.consumer_stopped_errors:
            if not app.should_stop:
                raise
        except asyncio.CancelledError:
            if not app.should_stop:
                raise
        except Exception as error:
            # Crash-only: a restarted worker resumes exactly from its last committed flush,
            # whereas carrying on after an unknown failure could skip records.
            log.critical("worker stopping after an unexpected error: %r; restart it", error)
            if app.on_fatal is not None:
                app.on_fatal(error)
            await app.crash(error)
            raise

    def _caught_up(self, records: Mapping[TP, Sequence[Any]]) -> bool:
        """Whether the fetch reached the end of each partition it read."""
        return all(
            batch[-1].offset + 1 >= (self.highwater(tp) or 0) for tp, batch in records.items()
        )

    async def _commit_applied(self, committed: dict[TP, int]) -> None:
        """Move the group's offsets up to what the pipeline has committed.

        Only where to fetch from after a restart or rebalance: the exact position is the
        state topic's (records at or below it are skipped), so a late commit costs a re-read.
        """
        offsets = {
            TP(topic, partition): offset + 1
            for partition, applied in cast(KpiApp, self.app).pipeline.partitions.items()
            for topic, offset in applied.items()
        }
        moved = {tp: offset for tp, offset in offsets.items() if committed.get(tp) != offset}
        if moved and await self._commit_offsets(moved):
            committed.update(moved)


class KpiTransport(aiokafka_driver.Transport):
    """The aiokafka transport, with :class:`BatchConsumer`."""

    Consumer = BatchConsumer


class KpiApp(faust.App):
    """A Faust app that also holds the pipeline and the metrics registry it serves."""

    settings: Settings
    pipeline: Pipeline
    registry: CollectorRegistry
    # Set by the worker process: ends the whole process (non-zero exit) on a fatal error.
    on_fatal: Callable[[BaseException], None] | None = None

    def _new_transport(self) -> TransportT:
        return KpiTransport(self.conf.broker_consumer, self)

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
    )
    app.settings = settings
    app.registry = CollectorRegistry()
    metrics = PipelineMetrics(app.registry)
    redis_sink = RedisSink(settings, on_error=lambda _: metrics.sink_errors.labels("redis").inc())
    sinks: list[Sink] = [redis_sink, PrometheusSink(app.registry, settings.metrics_campaigns)]
    app.pipeline = pipeline = Pipeline(settings, sinks, metrics)
    metrics.watch_consumer_lag(app.registry, lambda: pipeline.consumer_lag(_highwater(app)))

    # Subscribed, not streamed: BatchConsumer hands their records to the pipeline.
    app.topics.add(
        app.topic(
            *settings.logical_topics(),
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
            acks=False,
        )
    )

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


def _highwater(app: KpiApp) -> Any:
    def read(topic: str, partition: int) -> int | None:
        try:
            value = app.consumer.highwater(TP(topic, partition))
        except (AssertionError, KeyError, RuntimeError):
            return None
        return None if value is None else int(value)

    return read
