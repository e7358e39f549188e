"""Where flushed KPI sets go besides the KPI topic: each sink behind one small interface."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streams.domain.alerts import AlertRecord
from streams.domain.engine import KpiSet, SetKey
from streams.domain.events import CampaignDefined


@dataclass(frozen=True, slots=True)
class Erasure:
    """A campaign erased by one forget request, as its flush's transaction committed it.

    ``set_keys`` are the KPI sets the erased state held (the Redis hashes to delete), empty
    when the worker held nothing of the campaign (``known`` false); ``state_cells``,
    ``past_retention`` and ``alert_keys`` count the flush's tombstones of state cells, of
    KPI-topic windows the state dropped past their retention, and of alerts. Sinks drop what
    they hold of the campaign and the Redis sink acknowledges the request.
    """

    campaign_id: str
    request_id: str
    known: bool
    set_keys: Sequence[SetKey] = ()
    state_cells: int = 0
    past_retention: int = 0
    alert_keys: int = 0


@dataclass(frozen=True, slots=True)
class Flush:
    """The KPI sets one flush writes, once each, with absolute values.

    ``definitions`` holds the definition in force of the flush's campaigns that have one
    (for sinks that show a campaign's schedule, such as pacing in Prometheus).
    ``sequences`` holds each campaign's flush sequence: it only grows, whichever worker
    writes, so a sink can refuse a write older than what it holds. ``whole`` names the
    campaigns whose every KPI set the flush writes (after a restore, or a loss); ``alerts``
    the alert records that changed (opened, refreshed or resolved); ``erasures`` the
    campaigns erased, to be dropped before the KPI sets are written (a set of the same
    campaign in the flush comes from records that followed the erasure).
    """

    kpi_sets: Sequence[KpiSet]
    updated_at_ms: int
    definitions: Mapping[str, CampaignDefined] = field(default_factory=dict)
    sequences: Mapping[str, int] = field(default_factory=dict)
    whole: frozenset[str] = frozenset()
    alerts: Sequence[AlertRecord] = ()  # alert records that changed
    erasures: Sequence[Erasure] = ()


class Sink(Protocol):
    """A destination of flushes.

    ``write`` retries transient failures itself and returns only once the flush is stored;
    it isolates (logs and counts) what it cannot store of one KPI set or campaign, and
    raises only for errors that leave it unable to work at all.
    """

    name: str

    async def start(self) -> None:
        """Connect."""

    async def write(self, flush: Flush) -> Collection[str]:
        """Store one flush; return the campaigns found to have lost earlier writes."""

    async def lost(self, campaign_ids: Collection[str]) -> Collection[str]:
        """The campaigns among these whose earlier writes the sink no longer holds."""

    def forget(self, campaign_ids: Iterable[str]) -> None:
        """Drop what is kept of campaigns whose partitions this worker no longer owns."""

    async def stop(self) -> None:
        """Release connections."""
