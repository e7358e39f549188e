"""Where flushed KPI sets go: each sink behind the same small async interface."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streams.domain.engine import KpiSet
from streams.domain.events import CampaignDefined


@dataclass(frozen=True, slots=True)
class Flush:
    """The KPI sets one flush writes, once each, with absolute values.

    ``definitions`` holds the definition in force of the flush's campaigns that have one
    (for sinks that show a campaign's schedule, such as pacing in Prometheus).
    """

    kpi_sets: Sequence[KpiSet]
    updated_at_ms: int
    definitions: Mapping[str, CampaignDefined] = field(default_factory=dict)


class Sink(Protocol):
    """A destination of flushes.

    ``write`` retries transient failures itself and returns only once the flush is stored;
    it raises only for errors that retrying cannot fix.
    """

    name: str

    async def start(self) -> None:
        """Connect."""

    async def write(self, flush: Flush) -> None:
        """Store one flush."""

    def forget(self, campaign_ids: Iterable[str]) -> None:
        """Drop what is kept of campaigns whose partitions this worker no longer owns."""

    async def stop(self) -> None:
        """Release connections."""
