"""Campaign alerts: pure rules over the KPI state a worker holds (issue 15).

Each rule looks at one campaign as of its latest event (event time; only ``feed_silent``
uses processing time) and says what fires: a :class:`Firing` names the rule, the scope it is
about, a severity, a sentence and the figures behind it. :func:`follow` turns firings into
alert records with a life: opened when a rule first fires, refreshed while it keeps firing,
resolved when it stops. No rule compares a campaign with another one.

Thresholds are :class:`AlertRules` (settings ``KPI_ALERT_*``, documented in the README).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from streams.domain.objectives import elapsed_share, pacing

PACING_BEHIND: Final = "pacing_behind"
KPI_DROP: Final = "kpi_drop"
KPI_SPIKE: Final = "kpi_spike"
FEED_SILENT: Final = "feed_silent"
BOT_CLICKS: Final = "bot_clicks"
LEAKED_CODE: Final = "leaked_code"
BUDGET_AHEAD: Final = "budget_ahead"
RULES: Final = (
    PACING_BEHIND, KPI_DROP, KPI_SPIKE, FEED_SILENT, BOT_CLICKS, LEAKED_CODE, BUDGET_AHEAD,
)
WARNING: Final = "warning"
CRITICAL: Final = "critical"
OPEN: Final = "open"
RESOLVED: Final = "resolved"

# The counter whose hourly course says whether a campaign is collapsing or spiking, per
# objective (its first headline counter that arrives densely; orders are too sparse).
TRENDED: Final[dict[str, str]] = {
    "awareness": "impressions", "engagement": "engagements", "conversion": "clicks_valid",
}
_HOUR_US: Final = 3_600_000_000


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Thresholds of the rules, with their documented defaults."""

    pacing_after_share: float = 0.10  # judge pacing only after 10 % of the schedule
    pacing_behind_below: float = 0.8  # pace under this: behind (the report's factor)
    pacing_critical_below: float = 0.5
    trend_baseline_hours: int = 24  # the trailing hours an hour is compared with
    trend_min_hours: int = 6  # fewer hours of history: no trend judged
    trend_min_per_hour: int = 30  # a baseline (or a spike) under this many: too few events
    # The last hour under a quarter of its baseline: a drop. (A post's natural decay alone
    # puts an hour at 0.3-0.5 of its trailing day.)
    drop_below: float = 0.25
    spike_above: float = 3.0  # over three times its baseline: a spike
    silent_after_s: float = 1800.0  # in flight and no event for 30 minutes
    bot_share_above: float = 0.15  # domain notes: bots are a few to ~15 % of raw clicks
    bot_min_clicks: int = 50
    leaked_min_orders: int = 5  # code orders with no click from the code's influencer
    budget_after_share: float = 0.10
    # Budget used more than this ahead of the elapsed share (influencer spend is front-loaded:
    # posts are paid when they go live), or over the whole budget before the end.
    budget_ahead_margin: float = 0.5


@dataclass(frozen=True, slots=True)
class CampaignView:
    """What the rules read of one campaign."""

    campaign_id: str
    now_us: int  # the campaign's latest event (event time)
    objective: str | None = None
    starts_us: int | None = None
    ends_us: int | None = None
    totals: Mapping[str, object] = field(default_factory=dict)  # the campaign `all` KPIs
    # influencer -> (code orders, clicks of any kind) over the whole campaign
    influencers: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    links: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # (clicks, bot clicks)
    hourly: Mapping[int, int] = field(default_factory=dict)  # hour start (us) -> trended count
    silent_s: float | None = None  # processing-time seconds since its last event (streaming)
    in_flight: bool = False  # now (processing time) within its schedule


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fires now, with the figures behind it."""

    rule: str
    scope: str
    scope_id: str
    severity: str
    message: str
    figures: dict[str, float | int | str]

    @property
    def key(self) -> tuple[str, str, str]:
        """(rule, scope, scope id): one alert per key."""
        return self.rule, self.scope, self.scope_id


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert's life: the output shape of docs/contract-decisions.md, "Alerts"."""

    campaign_id: str
    rule: str
    scope: str
    scope_id: str
    severity: str
    state: str
    message: str
    figures: dict[str, float | int | str]
    first_seen: int  # epoch ms
    last_seen: int
    resolved_at: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """(rule, scope, scope id)."""
        return self.rule, self.scope, self.scope_id

    def to_value(self) -> dict[str, object]:
        """The JSON value written to Redis and the alerts topic."""
        return {
            "campaign_id": self.campaign_id, "rule": self.rule, "scope": self.scope,
            "scope_id": self.scope_id, "severity": self.severity, "state": self.state,
            "message": self.message, "figures": self.figures, "first_seen": self.first_seen,
            "last_seen": self.last_seen, "resolved_at": self.resolved_at,
        }


def evaluate(view: CampaignView, rules: AlertRules) -> list[Firing]:
    """Every rule that fires for the campaign, as of its latest event."""
    firings = [
        *_pacing(view, rules), *_trend(view, rules), *_bots(view, rules),
        *_leaks(view, rules), *_budget(view, rules), *_silence(view, rules),
    ]
    return sorted(firings, key=lambda f: f.key)


def follow(
    campaign_id: str,
    held: Mapping[tuple[str, str, str], AlertRecord],
    firings: Iterable[Firing],
    now_ms: int,
    *,
    only: Iterable[str] | None = None,
) -> list[AlertRecord]:
    """The alert records that change: opened, refreshed with new figures, or resolved.

    ``only`` limits which rules were evaluated (the others keep their state).
    """
    evaluated = set(RULES if only is None else only)
    changed: list[AlertRecord] = []
    fired = {firing.key: firing for firing in firings}
    for key, firing in fired.items():
        record = held.get(key)
        if record is None or record.state == RESOLVED:
            changed.append(AlertRecord(
                campaign_id, *key, firing.severity, OPEN, firing.message, firing.figures,
                now_ms, now_ms,
            ))
        elif (record.figures, record.severity, record.message) != (
            firing.figures, firing.severity, firing.message
        ):
            changed.append(replace(
                record, severity=firing.severity, message=firing.message,
                figures=firing.figures, last_seen=max(record.last_seen, now_ms),
            ))
    for key, record in held.items():
        if record.state == OPEN and key not in fired and key[0] in evaluated:
            changed.append(replace(record, state=RESOLVED, resolved_at=now_ms,
                                   last_seen=max(record.last_seen, now_ms)))
    return changed


# -- the rules ------------------------------------------------------------------------------


def _elapsed(view: CampaignView) -> float | None:
    if view.starts_us is None or view.ends_us is None:
        return None
    return elapsed_share(view.now_us, view.starts_us, view.ends_us)


def _pacing(view: CampaignView, rules: AlertRules) -> Iterable[Firing]:
    elapsed = _elapsed(view)
    progress = view.totals.get("target_progress")
    if elapsed is None or not isinstance(progress, Mapping) or elapsed < rules.pacing_after_share:
        return
    for kpi, value in sorted(progress.items()):
        if not isinstance(value, int | float) or elapsed >= 1:
            continue
        standing = pacing(kpi, float(value), elapsed)
        if standing.pace is None or standing.pace >= rules.pacing_behind_below:
            continue
        severity = CRITICAL if standing.pace < rules.pacing_critical_below else WARNING
        yield Firing(
            PACING_BEHIND, "campaign", kpi, severity,
            f"{kpi} is behind its target: {value:.0%} of it after {elapsed:.0%} of the schedule "
            f"(pace {standing.pace:.2f}, alert under {rules.pacing_behind_below})",
            {"progress": round(float(value), 6), "elapsed_share": round(elapsed, 6),
             "pace": round(standing.pace, 6), "threshold": rules.pacing_behind_below},
        )


def _trend(view: CampaignView, rules: AlertRules) -> Iterable[Firing]:
    kpi = TRENDED.get(view.objective or "")
    if kpi is None or not view.hourly:
        return
    current = view.now_us - view.now_us % _HOUR_US
    last = current - _HOUR_US  # the last complete hour
    first = min(view.hourly)
    baseline_hours = [
        last - i * _HOUR_US for i in range(1, rules.trend_baseline_hours + 1)
        if last - i * _HOUR_US >= first
    ]
    if len(baseline_hours) < rules.trend_min_hours:
        return
    baseline = sum(view.hourly.get(h, 0) for h in baseline_hours) / len(baseline_hours)
    value = view.hourly.get(last, 0)
    figures: dict[str, float | int | str] = {
        "kpi": kpi, "hour_start": last // 1_000_000, "value": value,
        "baseline_per_hour": round(baseline, 3), "hours": len(baseline_hours),
    }
    if baseline >= rules.trend_min_per_hour and value < rules.drop_below * baseline:
        yield Firing(
            KPI_DROP, "campaign", kpi, CRITICAL if value == 0 else WARNING,
            f"{kpi} dropped to {value} in the last hour against {baseline:.0f} per hour over "
            f"the {len(baseline_hours)} hours before",
            {**figures, "threshold": rules.drop_below},
        )
    if value >= rules.trend_min_per_hour and value > rules.spike_above * max(baseline, 1.0):
        yield Firing(
            KPI_SPIKE, "campaign", kpi, WARNING,
            f"{kpi} spiked to {value} in the last hour against {baseline:.0f} per hour over "
            f"the {len(baseline_hours)} hours before",
            {**figures, "threshold": rules.spike_above},
        )


def _bots(view: CampaignView, rules: AlertRules) -> Iterable[Firing]:
    for link_id, (clicks, bots) in sorted(view.links.items()):
        if clicks < rules.bot_min_clicks or bots <= rules.bot_share_above * clicks:
            continue
        share = bots / clicks
        yield Firing(
            BOT_CLICKS, "link", link_id, CRITICAL if share > 0.5 else WARNING,
            f"{share:.0%} of the {clicks} clicks on link {link_id} come from bots or link "
            f"previews (alert above {rules.bot_share_above:.0%}): check where it was posted",
            {"clicks": clicks, "clicks_bot": bots, "bot_share": round(share, 6),
             "threshold": rules.bot_share_above},
        )


def _leaks(view: CampaignView, rules: AlertRules) -> Iterable[Firing]:
    for influencer_id, (code_orders, clicks) in sorted(view.influencers.items()):
        if code_orders >= rules.leaked_min_orders and clicks == 0:
            yield Firing(
                LEAKED_CODE, "influencer", influencer_id, WARNING,
                f"{code_orders} orders used {influencer_id}'s promo code with no click from "
                "them: the code may have leaked (coupon sites)",
                {"orders_code": code_orders, "clicks": clicks,
                 "threshold": rules.leaked_min_orders},
            )


def _budget(view: CampaignView, rules: AlertRules) -> Iterable[Firing]:
    elapsed = _elapsed(view)
    used = view.totals.get("budget_used")
    if elapsed is None or not isinstance(used, int | float) or elapsed < rules.budget_after_share:
        return
    if elapsed < 1 and (used > 1 or used > elapsed + rules.budget_ahead_margin):
        yield Firing(
            BUDGET_AHEAD, "campaign", view.campaign_id, CRITICAL if used > 1 else WARNING,
            f"{used:.0%} of the budget is spent after {elapsed:.0%} of the schedule",
            {"budget_used": round(float(used), 6), "elapsed_share": round(elapsed, 6),
             "threshold": rules.budget_ahead_margin},
        )


def _silence(view: CampaignView, rules: AlertRules) -> Iterable[Firing]:
    if view.silent_s is not None and view.in_flight and view.silent_s >= rules.silent_after_s:
        minutes = view.silent_s / 60
        yield Firing(
            FEED_SILENT, "campaign", view.campaign_id, WARNING,
            f"no event for {minutes:.0f} minutes while the campaign is in flight: check the "
            "feeds (platform polling, tracking links)",
            {"silent_s": round(view.silent_s), "threshold_s": rules.silent_after_s},
        )
