"""The Faust application: ``create_app(settings)`` wires the consumer, pipeline, sinks, metrics.

Faust gives the consumer group, co-partitioned assignment of the input topics, its consumer
thread, rebalance signals and the web server. Windows, lateness, dedup and state are ours
(docs/architecture.md). Records reach the :class:`~streams.pipeline.Pipeline` a whole fetch
at a time through :mod:`streams.faust_compat`, the one module that touches Faust's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from faust.types import TP
from faust.web import Request, Response, View
from mode.types.signals import BaseSignalT
from prometheus_client import CollectorRegistry, generate_latest

from streams.config import Settings
from streams.connections import faust_credentials
from streams.faust_compat import CompatApp, attach, highwater
from streams.kafka_store import KafkaPartitionStore
from streams.metrics import PipelineMetrics
from streams.pipeline import Pipeline
from streams.sinks import Sink
from streams.sinks.prometheus import PrometheusSink
from streams.sinks.redis import RedisSink
from streams.topics import ensure_topics

# The text exposition format; aiohttp takes the charset apart from the type (UTF-8 default).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


class KpiApp(CompatApp):
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
        # Faust's consumer and producer (and the topics it creates with their clients)
        # authenticate as every other client does.
        broker_credentials=faust_credentials(settings),
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
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 3,
    )
    app.settings = settings
    app.registry = CollectorRegistry()
    metrics = PipelineMetrics(app.registry)
    redis_sink = RedisSink(
        settings,
        on_error=lambda _: metrics.sink_errors.labels("redis").inc(),
        on_set_error=lambda _: metrics.set_errors.labels("redis").inc(),
    )
    sinks: list[Sink] = [redis_sink, PrometheusSink(app.registry, settings.metrics_campaigns)]
    app.pipeline = pipeline = Pipeline(
        settings, partial(KafkaPartitionStore, settings), sinks, metrics
    )
    metrics.watch_state(
        app.registry,
        lambda: pipeline.consumer_lag(partial(highwater, app)),
        pipeline.state_held,
        settings.state_ceilings,
    )
    attach(app, pipeline, poll_s=min(1.0, settings.flush_interval_s))

    # Subscribed, not streamed: the consumer hands their records to the pipeline. One group:
    # with equal partition counts, Faust's assignor gives a worker the same partition number
    # of every one (the control topic's requests reach the owner of their campaign).
    app.topics.add(
        app.topic(
            *settings.consumed_topics(),
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
        """Tell the pipeline (it acts on it between two flushes, never during one)."""
        assigned: set[TP] = args[0]
        # Input topics only: Faust also assigns its own (the assignor's leader topic), whose
        # partition numbers say nothing about ours.
        inputs = settings.logical_topics()
        pipeline.assigned(tp.partition for tp in assigned if tp.topic in inputs)

    @app.page("/metrics")
    async def metrics_page(web: View, request: Request) -> Response:
        """Prometheus exposition of the worker's registry."""
        return web.bytes(generate_latest(app.registry), content_type=METRICS_CONTENT_TYPE)

    @app.page("/health")
    async def health_page(web: View, request: Request) -> Response:
        """Alive and consuming: 200 with the partitions owned."""
        return web.json({"status": "ok", "partitions": sorted(pipeline.partitions)})

    return app
