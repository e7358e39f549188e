"""Per-campaign KPI series for Prometheus, capped to the most recently active campaigns.

The series follow processing time: each scrape shows the campaign-scope `all` KPI set as of
the last flush. Event-time windows are read from Redis or the KPI topic.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.domain.alerts import OPEN
from streams.domain.vocabulary import Scope, Window
from streams.metrics import PREFIX
from streams.sinks import Flush

NO_OBJECTIVE = "undefined"
_LIFT_MEASURES: Final = {
    "lift": "Brand lift: positive share among the exposed minus among the control group.",
    "relative_lift": "Brand lift relative to the control group's positive share.",
    "z": "Two-proportion z score of the brand lift (|z| >= 1.96: significant at 95 %).",
}


@dataclass(frozen=True, slots=True)
class _CampaignSeries:
    objective: str
    values: dict[str, float]
    progress: dict[str, float]
    updated_at_ms: int
    schedule_s: tuple[float, float] | None  # (starts_at, ends_at) of the definition
    by_action: dict[str, float]  # conversions_by_action
    brand_lift: dict[str, dict[str, float]]  # question -> its brand_lift entry's numbers


class PrometheusSink(Collector):
    """A sink that keeps the latest campaign KPIs and serves them at scrape time."""

    name = "prometheus"

    def __init__(self, registry: CollectorRegistry, max_campaigns: int) -> None:
        """Serve at most ``max_campaigns`` campaigns (the most recently updated)."""
        self.max_campaigns = max_campaigns
        self._latest: OrderedDict[str, _CampaignSeries] = OrderedDict()
        # campaign -> (rule, scope, scope id) -> severity, of the open alerts
        self._alerts: dict[str, dict[tuple[str, str, str], str]] = {}
        registry.register(self)

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def write(self, flush: Flush) -> Collection[str]:
        """Keep the campaign-scope `all` sets of the flush (nothing is ever lost here)."""
        self.forget(erasure.campaign_id for erasure in flush.erasures)
        for kpi_set in flush.kpi_sets:
            if kpi_set.scope != Scope.CAMPAIGN or kpi_set.window != Window.ALL:
                continue
            kpis = kpi_set.kpis
            objective = kpis.get("objective")
            progress = kpis.get("target_progress")
            definition = flush.definitions.get(kpi_set.campaign_id)
            self._latest[kpi_set.campaign_id] = _CampaignSeries(
                objective if isinstance(objective, str) else NO_OBJECTIVE,
                {
                    name: float(value)
                    for name, value in kpis.items()
                    if isinstance(value, int | float)
                },
                dict(progress) if isinstance(progress, dict) else {},
                flush.updated_at_ms,
                None
                if definition is None
                else (definition.starts_at_us / 1e6, definition.ends_at_us / 1e6),
                _numbers(kpis.get("conversions_by_action")),
                {
                    question: _numbers(entry)
                    for question, entry in _mapping(kpis.get("brand_lift")).items()
                },
            )
            self._latest.move_to_end(kpi_set.campaign_id)
        for record in flush.alerts:
            held = self._alerts.setdefault(record.campaign_id, {})
            if record.state == OPEN:
                held[record.key] = record.severity
            else:
                held.pop(record.key, None)
        while len(self._latest) > self.max_campaigns:
            self._latest.popitem(last=False)
        return ()

    async def lost(self, campaign_ids: Collection[str]) -> Collection[str]:
        """Nothing: the series live in this process."""
        return ()

    def forget(self, campaign_ids: Iterable[str]) -> None:
        """Drop campaigns whose partitions this worker no longer owns, or erased ones."""
        for campaign_id in campaign_ids:
            self._latest.pop(campaign_id, None)
            self._alerts.pop(campaign_id, None)

    def collect(self) -> Iterator[Metric]:
        """Yield the KPI, target-progress and last-update families."""
        values = GaugeMetricFamily(
            f"{PREFIX}_value",
            "Campaign-scope KPI over the whole campaign (window all), as of the last flush.",
            labels=["campaign_id", "objective", "kpi"],
        )
        progress = GaugeMetricFamily(
            f"{PREFIX}_target_progress_ratio",
            "KPI value divided by the campaign's target (for cost KPIs, below 1 is good).",
            labels=["campaign_id", "objective", "kpi"],
        )
        updated = GaugeMetricFamily(
            f"{PREFIX}_campaign_updated_timestamp_seconds",
            "When the campaign's KPIs last changed (processing time).",
            labels=["campaign_id", "objective"],
        )
        starts = GaugeMetricFamily(
            f"{PREFIX}_campaign_start_timestamp_seconds",
            "The campaign definition's starts_at (for pacing against targets).",
            labels=["campaign_id", "objective"],
        )
        ends = GaugeMetricFamily(
            f"{PREFIX}_campaign_end_timestamp_seconds",
            "The campaign definition's ends_at (for pacing against targets).",
            labels=["campaign_id", "objective"],
        )
        for campaign_id, series in list(self._latest.items()):
            for kpi, value in series.values.items():
                values.add_metric([campaign_id, series.objective, kpi], value)
            for kpi, value in series.progress.items():
                progress.add_metric([campaign_id, series.objective, kpi], value)
            updated.add_metric([campaign_id, series.objective], series.updated_at_ms / 1000)
            if series.schedule_s is not None:
                starts.add_metric([campaign_id, series.objective], series.schedule_s[0])
                ends.add_metric([campaign_id, series.objective], series.schedule_s[1])
        by_action = GaugeMetricFamily(
            f"{PREFIX}_conversions_by_action",
            "Conversions (non-sale actions) of the campaign by action (window all).",
            labels=["campaign_id", "objective", "action"],
        )
        # The brand_lift object, question by question: the rates' difference, its relative
        # size, the two-proportion z score, and the respondents behind them per group.
        lift = {
            measure: GaugeMetricFamily(
                f"{PREFIX}_brand_lift_{measure}", help_text,
                labels=["campaign_id", "objective", "question"],
            )
            for measure, help_text in _LIFT_MEASURES.items()
        }
        respondents = GaugeMetricFamily(
            f"{PREFIX}_brand_lift_respondents",
            "Survey respondents with an answer in force, by question, group (exposed or "
            "control) and answer (positive or any).",
            labels=["campaign_id", "objective", "question", "group", "answer"],
        )
        for campaign_id, series in list(self._latest.items()):
            for action, count in series.by_action.items():
                by_action.add_metric([campaign_id, series.objective, action], count)
            for question, entry in series.brand_lift.items():
                labels = [campaign_id, series.objective, question]
                for measure, family in lift.items():
                    if measure in entry:
                        family.add_metric(labels, entry[measure])
                for group in ("exposed", "control"):
                    for answer, field in (("any", group), ("positive", f"{group}_positive")):
                        if field in entry:
                            respondents.add_metric([*labels, group, answer], entry[field])
        alerts = GaugeMetricFamily(
            f"{PREFIX}_alert_open",
            "Open campaign alerts (1 each), by rule and severity.",
            labels=["campaign_id", "objective", "rule", "scope", "scope_id", "severity"],
        )
        for campaign_id, open_alerts in list(self._alerts.items()):
            latest = self._latest.get(campaign_id)
            if latest is None:
                continue  # outside the campaigns with series
            for (rule, scope, scope_id), severity in sorted(open_alerts.items()):
                alerts.add_metric(
                    [campaign_id, latest.objective, rule, scope, scope_id, severity], 1
                )
        yield from (values, progress, updated, starts, ends, by_action, *lift.values(),
                    respondents, alerts)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _numbers(value: object) -> dict[str, float]:
    """The numeric entries of an object KPI."""
    return {
        name: float(number) for name, number in _mapping(value).items()
        if isinstance(number, int | float)
    }
