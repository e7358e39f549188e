"""The worker's Prometheus metrics, built as one group on a registry the caller owns."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.domain.vocabulary import Outcome, Topic

PREFIX: Final = "campaign_kpi"
LAG_BUCKETS_S: Final = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
SINK_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
GC_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)

# (topic, partition) -> records not yet processed
LagReader = Callable[[], Iterable[tuple[str, int, int]]]


class StateHeld(NamedTuple):
    """What one owned partition holds in memory (and so, live, in its state topic)."""

    partition: int
    campaigns: int
    kpi_sets: int  # live aggregates: every `all` set and the open windows
    open_windows: int  # windowed sets not yet final (packed)
    window_blocks: int  # blocks of packed final windows, not yet past their retention


StateReader = Callable[[], Iterable[StateHeld]]
# What each *_held gauge is measured in, for the ceiling's label (KPI_STATE_MAX_*).
STATE_KINDS: Final = ("campaigns", "kpi_sets", "open_windows", "window_blocks")


class PipelineMetrics:
    """Processing counters, event lag, sink latency and errors, consumer lag."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register every metric on ``registry``."""
        self.events = Counter(
            f"{PREFIX}_events",
            "Input records by logical topic and outcome (counted, duplicate, late, invalid, "
            "skipped: already applied before a restart).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.invalid = Counter(
            f"{PREFIX}_invalid_events",
            "Records sent to the dead-letter topic, by logical topic and reason.",
            ["topic", "reason"],
            registry=registry,
        )
        self.event_lag = Histogram(
            f"{PREFIX}_event_lag_seconds",
            "Processing time minus the event's occurred_at, for counted events.",
            buckets=LAG_BUCKETS_S,
            registry=registry,
        )
        self.sink_write = Histogram(
            f"{PREFIX}_sink_write_duration_seconds",
            "Time to store one flush in a sink, retries included.",
            ["sink"],
            buckets=SINK_BUCKETS_S,
            registry=registry,
        )
        self.sink_errors = Counter(
            f"{PREFIX}_sink_errors",
            "Failed attempts to write to a sink (each is retried).",
            ["sink"],
            registry=registry,
        )
        self.set_errors = Counter(
            f"{PREFIX}_kpi_set_errors",
            "KPI sets (or a campaign's sets) an output could not take, logged with their key "
            "and left out, by output (kpi-topic, redis).",
            ["output"],
            registry=registry,
        )
        self.flushes = Counter(
            f"{PREFIX}_flushes", "Flushes committed.", registry=registry
        )
        self.kpi_sets_written = Counter(
            f"{PREFIX}_kpi_sets_written",
            "KPI sets written by flushes (each to every sink).",
            registry=registry,
        )
        self.partitions_owned = Gauge(
            f"{PREFIX}_partitions_owned",
            "Input partitions whose state this worker holds.",
            registry=registry,
        )
        for sink in ("redis", "prometheus"):  # series exist (at 0) before the first error
            self.sink_errors.labels(sink)
        for output in ("kpi-topic", "redis"):
            self.set_errors.labels(output)
        # Resolve label children once: the hot path only increments.
        self.event_outcome = {
            (topic, outcome): self.events.labels(topic, outcome)
            for topic in Topic
            for outcome in Outcome
        }

    def watch_state(
        self,
        registry: CollectorRegistry,
        lag: LagReader,
        state: StateReader,
        ceilings: Mapping[str, int],
    ) -> None:
        """Report consumer lag and the state held, read at scrape time, and its ceilings.

        ``ceilings`` (kind of :data:`STATE_KINDS` -> most held by this worker) are exposed as
        ``campaign_kpi_state_ceiling{state=...}``, for the alert rule to compare with.
        """
        registry.register(_StateCollector(lag, state))
        ceiling = Gauge(
            f"{PREFIX}_state_ceiling",
            "Most state this worker should hold, over all its partitions (KPI_STATE_MAX_*), "
            "by kind of state: the alert CampaignKpiStateAboveCeiling compares the *_held "
            "gauges with it.",
            ["state"],
            registry=registry,
        )
        for kind in STATE_KINDS:
            ceiling.labels(kind).set(ceilings[kind])


_HELD_DOCS: Final = {
    "campaigns": "Campaigns whose state this worker holds, per owned partition.",
    "kpi_sets": "KPI sets held as live aggregates (every `all` set and the open windows), per "
                "owned partition.",
    "open_windows": "Windowed KPI sets not yet final (a live aggregate, reach sketch "
                    "included), per owned partition.",
    "window_blocks": "Blocks of final windows packed to their values (a day of 1m or 1h "
                     "windows, 32 days of 1d, per scope) not yet past their retention, per "
                     "owned partition.",
}


class _StateCollector(Collector):
    def __init__(self, lag: LagReader, state: StateReader) -> None:
        self._lag = lag
        self._state = state

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag_records",
            "Records in an input partition not yet processed by this worker.",
            labels=["topic", "partition"],
        )
        for topic, partition, lag in self._lag():
            family.add_metric([topic, str(partition)], lag)
        yield family
        families = {
            kind: GaugeMetricFamily(f"{PREFIX}_{kind}_held", doc, labels=["partition"])
            for kind, doc in _HELD_DOCS.items()
        }
        for held in self._state():
            for kind, gauge in families.items():
                gauge.add_metric([str(held.partition)], getattr(held, kind))
        yield from families.values()


def watch_gc_pauses(registry: CollectorRegistry) -> None:
    """Time every cyclic garbage collection of this process (it stops all processing).

    Once per process: ``gc.callbacks`` is global.
    """
    pauses = Histogram(
        f"{PREFIX}_gc_pause_seconds",
        "Time the process stood still in Python's cyclic garbage collector, by generation.",
        ["generation"],
        buckets=GC_BUCKETS_S,
        registry=registry,
    )
    by_generation = [pauses.labels(str(generation)) for generation in range(3)]
    started = 0.0

    def on_collection(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            by_generation[info["generation"]].observe(time.perf_counter() - started)

    gc.callbacks.append(on_collection)
