"""Every place the worker reaches into Faust's or aiokafka's internals: this module only.

Written for faust-streaming 0.15.3 and aiokafka 0.14.0 (pinned in pyproject.toml and the
lock file). tests/unit/test_faust_compat.py checks that each overridden or used internal
still has the shape relied on here, so an upgrade fails loudly instead of silently.

What is overridden, and why:

* ``AIOKafkaConsumerThread._create_worker_consumer``: Faust builds the aiokafka consumer
  with ``fetch_max_wait_ms=1500`` and ``read_uncommitted``, with no setting for either. The
  worker sets 100 ms (a fetch held on idle partitions made records of busy ones wait: whole
  seconds of freshness, docs/architecture.md) and ``read_committed`` (records of an aborted
  upstream transaction are not input).
* ``Consumer._new_consumer_thread``: to use that thread class.
* ``Consumer._drain_messages``: Faust's fetcher loop hands records to agents one at a time
  through two new tasks each; this loop hands each whole fetch to the pipeline instead
  (it reads ``_wait_next_records``, ``scheduler.iterate``, ``flow_active``).
* ``App._new_transport``: to use this consumer.
* ``App._new_web``: to use :class:`OwnPagesWeb`, Faust's aiohttp web server without the
  views Faust registers itself (``/router``, ``/table``, ``/graph``, the statistics or
  production index at ``/``, ``/performance``): they would expose partition assignments
  and table contents; the worker serves ``/metrics`` and ``/health`` only.

Used, not overridden: ``Consumer._commit_offsets`` (commit the group's offsets outside
Faust's acknowledgement tracking), ``Consumer.seek_wait`` and ``Consumer.highwater``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.transports import TransportT
from faust.web import Web
from faust.web.drivers import aiohttp as aiohttp_driver
from mode import ServiceT

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

# How long the broker may hold a fetch that finds no new records. aiokafka has one fetch
# in flight per broker, so while it is held, records arriving on other partitions wait too.
FETCH_MAX_WAIT_MS: Final = 100
ISOLATION_LEVEL: Final = "read_committed"


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, with a short fetch wait and committed reads."""

    def _create_worker_consumer(self, transport: aiokafka_driver.Transport) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Both are read when the consumer starts, which is after this.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        consumer._isolation_level = ISOLATION_LEVEL
        return consumer


class _InputControl:
    """What the pipeline asks of the consumer: seek, commit, which generation it is in."""

    def __init__(self, consumer: BatchConsumer) -> None:
        self._consumer = consumer

    @property
    def generation(self) -> int:
        return int(self._consumer.app.consumer_generation_id)

    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        consumer = self._consumer
        assigned = consumer.assignment()
        wanted = {TP(topic, p): offset for (topic, p), offset in positions.items()}
        await consumer.seek_wait({tp: o for tp, o in wanted.items() if tp in assigned})

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        await self._consumer._commit_offsets(
            {TP(topic, p): offset for (topic, p), offset in offsets.items()}
        )


class BatchConsumer(aiokafka_driver.Consumer):
    """Faust's Kafka consumer, handing each fetch whole to the pipeline.

    Everything else (group membership, assignment, flow control around rebalances, seeking
    to committed offsets) stays Faust's.
    """

    pipeline: Pipeline
    poll_s: float = 1.0

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        pipeline = self.pipeline
        pipeline.control = _InputControl(self)
        app = self.app
        try:
            while not (self.should_stop or fetcher.should_stop):
                # While a rebalance is under way this waits for Faust to seek to the
                # committed offsets and resume the flow: what it returns comes from there
                # and is applied. (Reading the generation before the wait and dropping the
                # fetch when it changed threw away the first fetch after every rebalance,
                # with nothing seeking back: the loss of issue 10.)
                records, _ = await self._wait_next_records(self.poll_s)
                if not self.flow_active:
                    # A rebalance began during the fetch: Faust seeks back before it resumes
                    # the flow, so these records come again.
                    continue
                if records:
                    await pipeline.feed(
                        (record for _, record in self.scheduler.iterate(records)),
                        caught_up=self._caught_up(records),
                    )
                else:
                    await pipeline.idle()
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
            on_fatal = getattr(app, "on_fatal", None)
            if on_fatal is not None:
                on_fatal(error)
            await app.crash(error)
            raise

    def _caught_up(self, records: Mapping[TP, Sequence[Any]]) -> bool:
        """Whether the fetch reached the end of each partition it read."""
        return all(
            batch[-1].offset + 1 >= (self.highwater(tp) or 0) for tp, batch in records.items()
        )


class KpiTransport(aiokafka_driver.Transport):
    """The aiokafka transport, with :class:`BatchConsumer`."""

    Consumer = BatchConsumer


class OwnPagesWeb(aiohttp_driver.Web):
    """Faust's aiohttp web server serving the app's own pages only.

    Faust mounts its built-in views from these four lists of blueprints (each switched by
    a ``web_*_enabled`` setting, except the production index, always on); empty, none is.
    """

    default_blueprints = ()
    production_blueprints = ()
    debug_blueprints = ()
    optional_blueprints = ()


class CompatApp(faust.App):
    """A Faust app whose consumer is :class:`BatchConsumer`, whose web server is ours."""

    def _new_transport(self) -> TransportT:
        return KpiTransport(self.conf.broker_consumer, self)

    def _new_web(self) -> Web:
        return OwnPagesWeb(self)


def attach(app: CompatApp, pipeline: Pipeline, poll_s: float) -> None:
    """Give the app's consumer the pipeline it feeds (before the worker starts)."""
    consumer = cast(BatchConsumer, app.consumer)
    consumer.pipeline = pipeline
    consumer.poll_s = poll_s


def highwater(app: faust.App, topic: str, partition: int) -> int | None:
    """The end offset of an input partition as the consumer last saw it (None: unknown)."""
    try:
        value = app.consumer.highwater(TP(topic, partition))
    except (AssertionError, KeyError, RuntimeError):
        return None
    return None if value is None else int(value)
