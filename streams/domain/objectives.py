"""What each campaign objective is judged on, and pacing against the elapsed schedule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from streams.domain.kpis import CONTENT_SCORES, COST_KPIS, RATIOS
from streams.domain.vocabulary import OBJECTIVES

AWARENESS, ENGAGEMENT, CONVERSION = OBJECTIVES

# The headline KPIs of each objective, in display order (domain notes, "How the work is
# framed"; contract v2 names). Every other KPI is context for that objective, never its verdict.
HEADLINE_KPIS: Final[dict[str, tuple[str, ...]]] = {
    AWARENESS: ("reach", "reach_sum", "impressions", "frequency", "cpm_minor"),
    ENGAGEMENT: (
        "engagements",
        "engagement_rate_by_reach",
        "engagement_rate_by_reach_sum",
        "engagement_rate_by_impressions",
        "engagement_rate_by_views",
        "engagement_rate_by_followers",
        "cpe_minor",
    ),
    CONVERSION: (
        "clicks_valid",
        "ctr",
        "orders",
        "conversions",
        "conversions_by_action",
        "revenue_minor",
        "revenue_net_minor",
        "cpa_minor",
        "cost_per_conversion_minor",
        "roas",
        "roas_net",
    ),
}

# The cost of one result, per objective: what "cost per result" means when influencers are
# compared within a campaign (the first one present is used).
COST_PER_RESULT: Final[dict[str, tuple[str, ...]]] = {
    AWARENESS: ("cpm_minor",),
    ENGAGEMENT: ("cpe_minor",),
    CONVERSION: ("cpa_minor", "cost_per_conversion_minor"),
}

# What ranks a campaign's influencers (a Redis leaderboard, contract 5.1) under each objective,
# in preference order: the first one the campaign has is used. Influencers are only ever
# ranked within their own campaign.
LEADERBOARD_BY_OBJECTIVE: Final[dict[str, tuple[str, ...]]] = {
    AWARENESS: ("reach", "reach_sum"),
    ENGAGEMENT: ("engagements",),
    CONVERSION: ("revenue_minor", "conversions", "orders", "clicks_valid"),
}


# KPIs judged by their level, not by how far they have accrued: the rates of one result to
# another (engagement rates, CTR, conversion and action rates, frequency, order value) and the
# content scores stay about the same while a campaign runs, so their pace is their progress.
# Counters accrue, and so do the KPIs over spend (costs, ROAS): the spend is booked as posts go
# live, the results come in over the schedule.
LEVEL_KPIS: Final[frozenset[str]] = frozenset(
    {r.name for r in RATIOS if "spend_minor" not in (r.numerator, r.denominator)}
    | set(CONTENT_SCORES)
)

# A pace below this is "behind": the factor of the Prometheus pacing alerts
# (deploy/prometheus/rules, CampaignKpiBehindTargetPace / CostAboveTargetPace), so the report,
# the alerts and the live view call the same campaigns behind.
BEHIND_BELOW: Final = 0.8
# A pace at or above this is "ahead": 20 % beyond schedule, the mirror of BEHIND_BELOW.
AHEAD_FROM: Final = 1.2

NOT_STARTED: Final = "not started"
BEHIND: Final = "behind"
ON_TRACK: Final = "on track"
AHEAD: Final = "ahead"
MET: Final = "met"
MISSED: Final = "missed"


# Verdicts from the worst to the best: a campaign's standing is its worst target's.
_VERDICT_ORDER: Final = (MISSED, BEHIND, NOT_STARTED, ON_TRACK, AHEAD, MET)


def headline_kpis(objective: str | None) -> tuple[str, ...]:
    """The objective's headline KPI names in order; () for an unknown or absent objective."""
    return HEADLINE_KPIS.get(objective or "", ())


def lower_is_better(kpi: str) -> bool:
    """Whether a smaller value of the KPI is the better one (the cost KPIs)."""
    return kpi in COST_KPIS


def elapsed_share(now_s: float, starts_s: float, ends_s: float) -> float:
    """The share of the schedule ``[starts, ends)`` elapsed at ``now``, within 0..1."""
    if ends_s <= starts_s:
        return 1.0 if now_s >= ends_s else 0.0
    return min(max((now_s - starts_s) / (ends_s - starts_s), 0.0), 1.0)


def pace(kpi: str, progress: float, elapsed: float) -> float | None:
    """Progress against the elapsed share of the schedule: 1 means exactly on schedule.

    For a KPI where higher is better, results are expected to grow with time: pace is
    ``progress / elapsed``. For a cost KPI (spend over results) the expected value shrinks as
    results come in: pace is ``1 / (progress * elapsed)``. A rate (:data:`LEVEL_KPIS`) does
    not accrue: its pace is its progress. Either way, above 1 is ahead and below 1 behind.
    None before the start (nothing can be judged yet); a cost of 0 is infinitely good.
    """
    if elapsed <= 0:
        return None
    if kpi in LEVEL_KPIS:
        return progress
    if lower_is_better(kpi):
        return float("inf") if progress <= 0 else 1.0 / (progress * elapsed)
    return progress / elapsed


@dataclass(frozen=True, slots=True)
class Pacing:
    """One target's standing: its progress, the elapsed share, the pace and a verdict."""

    kpi: str
    progress: float  # value / target (for a cost KPI, below 1 is good)
    elapsed: float | None  # None when the schedule is unknown
    pace: float | None
    status: str | None  # None when the schedule is unknown

    @property
    def target_reached(self) -> bool:
        """The value is at (or, for a cost, below) its target today."""
        return self.progress <= 1 if lower_is_better(self.kpi) else self.progress >= 1

    @property
    def attained(self) -> float:
        """How much of the target is attained, 0..1 (a progress bar's fill).

        For a cost KPI, the target over the value: a cost three times its target fills a
        third of the bar, not all of it.
        """
        if lower_is_better(self.kpi):
            return 1.0 if self.progress <= 0 else min(1.0 / self.progress, 1.0)
        return min(max(self.progress, 0.0), 1.0)


def pacing(kpi: str, progress: float, elapsed: float | None) -> Pacing:
    """The standing of one target at an elapsed share (None: schedule unknown).

    Once the schedule is over the verdict is ``met`` or ``missed``; before it starts, ``not
    started``; in between ``behind`` / ``on track`` / ``ahead`` by :data:`BEHIND_BELOW` and
    :data:`AHEAD_FROM`.
    """
    if elapsed is None:
        return Pacing(kpi, progress, None, None, None)
    value = pace(kpi, progress, elapsed)
    reached = progress <= 1 if lower_is_better(kpi) else progress >= 1
    if elapsed >= 1:
        status = MET if reached else MISSED
    elif value is None:
        status = NOT_STARTED
    elif value < BEHIND_BELOW:
        status = BEHIND
    elif value >= AHEAD_FROM:
        status = AHEAD
    else:
        status = ON_TRACK
    return Pacing(kpi, progress, elapsed, value, status)


def percentile_rank(value: float, others: Iterable[float], kpi: str) -> float | None:
    """Where ``value`` stands among ``others`` (0..100, higher = better), None without others.

    The share of the others it beats, ties counting half ("better" is lower for a cost KPI).
    Only ever call it with campaigns of one objective: comparing objectives is meaningless.
    """
    pool = list(others)
    if not pool:
        return None
    low = lower_is_better(kpi)
    beaten = sum(1 for other in pool if (value < other if low else value > other))
    tied = sum(1 for other in pool if other == value)
    return 100.0 * (beaten + 0.5 * tied) / len(pool)


def leaderboard_kpi(objective: str | None, available: Iterable[str]) -> str | None:
    """The KPI that ranks influencers under this objective, among the ``available`` ones."""
    have = set(available)
    for kpi in LEADERBOARD_BY_OBJECTIVE.get(objective or "", ("engagements",)):
        if kpi in have:
            return kpi
    return None


def pacing_moment(latest_window_end_s: float | None, now_s: float) -> float:
    """When pacing is read: the data's clock (the end of its latest window), capped at now.

    A delayed or replayed campaign is then paced where its data is, not where the wall clock
    is; a live one, whose latest window is the current one, at now.
    """
    if latest_window_end_s is not None and latest_window_end_s < now_s:
        return latest_window_end_s
    return now_s


def worst_status(statuses: Iterable[str | None]) -> str | None:
    """The worst verdict among targets (``missed`` < ``behind`` < ... < ``met``), None if none."""
    known = [s for s in statuses if s in _VERDICT_ORDER]
    return min(known, key=_VERDICT_ORDER.index) if known else None
