"""Helpers of the simulator tests: samples, decoding, and the product's engine as the judge."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from streams import codec
from streams.config import Settings
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.events import AnyEvent
from streams.domain.vocabulary import Topic
from streams.processing import apply_record
from streams.simulate import SimConfig, SimRecord, records

START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z, a Thursday
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
HOUR_MS = 3_600_000


@cache
def sample(config: SimConfig) -> tuple[SimRecord, ...]:
    """The records of a config (cached: configs are frozen and the output deterministic)."""
    return tuple(records(config))


def decoded(record: SimRecord) -> AnyEvent:
    """The event of a record, by the product's codec."""
    return codec.decode(record.topic, record.key, record.value, record.timestamp_ms)


def value(record: SimRecord) -> dict[str, Any]:
    """The JSON object of a record (for records whose value is one)."""
    obj = codec.loads(record.value)
    assert isinstance(obj, dict)
    return obj


@dataclass
class Applied:
    """What the product's engine made of a stream of records, record by record."""

    engine: Engine
    outcomes: list[str] = field(default_factory=list)  # per record: outcome or reason
    reasons: Counter[str] = field(default_factory=Counter)

    def kpis(self, campaign_id: str, scope: str = "campaign", scope_id: str | None = None,
             window: str = "all", start: int | None = None) -> dict[str, Any]:
        """One KPI set's KPIs (KeyError when the engine has no such set)."""
        wanted = campaign_id if scope == "campaign" else scope_id
        for kpi_set in self.engine.all_sets():
            if (kpi_set.campaign_id, kpi_set.scope, kpi_set.scope_id, kpi_set.window,
                    kpi_set.window_start) == (campaign_id, scope, wanted, window, start):
                return dict(kpi_set.kpis)
        raise KeyError((campaign_id, scope, scope_id, window, start))

    def windows(self, campaign_id: str, window: str) -> dict[int, dict[str, Any]]:
        """The campaign-scope sets of one window kind, by window start (epoch seconds)."""
        return {
            kpi_set.window_start: dict(kpi_set.kpis)
            for kpi_set in self.engine.all_sets()
            if kpi_set.campaign_id == campaign_id and kpi_set.scope == "campaign"
            and kpi_set.window == window and kpi_set.window_start is not None
        }


def apply(stream: Iterable[SimRecord]) -> Applied:
    """Run records through the engine the worker and the replay run (default settings)."""
    engine = Engine(Settings().rules())
    applied = Applied(engine)
    for record in stream:
        outcome, result = apply_record(engine, Topic(record.topic), record.key, record.value,
                                       record.timestamp_ms)
        if isinstance(result, InvalidRecord):
            applied.reasons[result.reason] += 1
            applied.outcomes.append(str(result.reason))
        else:
            applied.outcomes.append(str(outcome))
    return applied


@cache
def applied(config: SimConfig) -> Applied:
    """The engine's reading of a config's records (cached)."""
    return apply(sample(config))
