"""The KPIs of contract section 2: one table from which their slots, places and names come.

Adding a counter is one entry in :data:`COUNTERS` (its name, where it lives, and either a
slot of its own or the slots it sums); the engine then feeds its slot by name. Ratios are
present exactly where both of their counters are (which reproduces the contract's "where"
column) and the denominator is not 0. :func:`kpi_values` turns one aggregate into its KPI
set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from streams.domain.events import CampaignDefined
from streams.domain.reach import Reach
from streams.domain.vocabulary import (
    CRITERIA,
    QUESTIONS,
    SCOPE_WINDOWS,
    Scope,
    Window,
)

Place = tuple[Scope, Window]

EVERYWHERE: Final[frozenset[Place]] = frozenset(
    (scope, window) for scope in Scope for window in (Window.ALL, *SCOPE_WINDOWS[scope])
)


def places(
    scopes: Iterable[Scope] = tuple(Scope), windows: Iterable[Window] = tuple(Window)
) -> frozenset[Place]:
    """The existing places among these scopes and windows."""
    wanted = {(scope, window) for scope in scopes for window in windows}
    return EVERYWHERE & wanted


WINDOW_ALL: Final = places(windows=(Window.ALL,))
CAMPAIGN_ALL: Final = places((Scope.CAMPAIGN,), (Window.ALL,))
CAMPAIGN_SCOPE: Final = places((Scope.CAMPAIGN,))
CAMPAIGN_INFLUENCER: Final = places((Scope.CAMPAIGN, Scope.INFLUENCER))
CAMPAIGN_INFLUENCER_ALL: Final = places((Scope.CAMPAIGN, Scope.INFLUENCER), (Window.ALL,))
NOT_MINUTE: Final = places(windows=(Window.ALL, Window.DAY, Window.HOUR))
NOWHERE: Final[frozenset[Place]] = frozenset()


@dataclass(frozen=True, slots=True)
class CounterKpi:
    """An integer KPI: a slot of its own, a sum of other slots, or computed apart.

    ``parts`` names the stored counters a derived one adds up (a leading ``-`` subtracts).
    ``computed`` counters (reach, influencers_active) are read from the aggregate's other
    parts. A counter placed ``NOWHERE`` is bookkeeping that is never published.
    """

    name: str
    where: frozenset[Place]
    parts: tuple[str, ...] = ()
    computed: bool = False

    @property
    def stored(self) -> bool:
        """Whether it has a slot in :attr:`Aggregate.counts`."""
        return not self.parts and not self.computed


def _sum(name: str, where: frozenset[Place], *parts: str) -> CounterKpi:
    return CounterKpi(name, where, parts)


COUNTERS: Final[tuple[CounterKpi, ...]] = (
    CounterKpi("posts", EVERYWHERE),
    CounterKpi("influencers_active", CAMPAIGN_SCOPE, computed=True),
    CounterKpi("potential_reach", WINDOW_ALL),
    CounterKpi("spend_minor", WINDOW_ALL),
    CounterKpi("impressions", EVERYWHERE),
    CounterKpi("views", EVERYWHERE),
    CounterKpi("likes", EVERYWHERE),
    CounterKpi("comments", EVERYWHERE),
    CounterKpi("shares", EVERYWHERE),
    CounterKpi("saves", EVERYWHERE),
    CounterKpi("replies", EVERYWHERE),
    _sum("engagements", EVERYWHERE, "likes", "comments", "shares", "saves", "replies"),
    CounterKpi("reach", NOT_MINUTE, computed=True),
    CounterKpi("reach_sum", CAMPAIGN_INFLUENCER_ALL),
    _sum("clicks", EVERYWHERE, "clicks_valid", "clicks_bot", "clicks_repeat"),
    CounterKpi("clicks_valid", EVERYWHERE),
    CounterKpi("clicks_bot", EVERYWHERE),
    CounterKpi("clicks_repeat", EVERYWHERE),
    _sum("orders", CAMPAIGN_INFLUENCER, "orders_code", "orders_link", "orders_unattributed"),
    CounterKpi("orders_code", CAMPAIGN_INFLUENCER),
    CounterKpi("orders_link", CAMPAIGN_INFLUENCER),
    CounterKpi("orders_unattributed", CAMPAIGN_SCOPE),
    CounterKpi("revenue_minor", CAMPAIGN_INFLUENCER),
    CounterKpi("orders_out_of_window", CAMPAIGN_ALL),
    CounterKpi("refunds", CAMPAIGN_INFLUENCER),
    CounterKpi("refunded_minor", CAMPAIGN_INFLUENCER),
    _sum("revenue_net_minor", CAMPAIGN_INFLUENCER, "revenue_minor", "-refunded_minor"),
    CounterKpi("refunds_unmatched", CAMPAIGN_ALL),
    _sum(
        "conversions", CAMPAIGN_INFLUENCER,
        "conversions_code", "conversions_link", "conversions_unattributed",
    ),
    CounterKpi("conversions_code", CAMPAIGN_INFLUENCER),
    CounterKpi("conversions_link", CAMPAIGN_INFLUENCER),
    CounterKpi("conversions_unattributed", CAMPAIGN_SCOPE),
    CounterKpi("conversion_value_minor", CAMPAIGN_INFLUENCER),
    CounterKpi("conversions_out_of_window", CAMPAIGN_ALL),
    CounterKpi("reviews", WINDOW_ALL),
    CounterKpi("survey_responses", CAMPAIGN_ALL),
    CounterKpi("duplicate_events", CAMPAIGN_ALL),
    CounterKpi("late_events", CAMPAIGN_ALL),
    CounterKpi("stale_snapshots", CAMPAIGN_ALL),
    # Bookkeeping of the content scores: per criterion, the sum and the number of scores.
    *(CounterKpi(f"score_sum_{criterion}", NOWHERE) for criterion in CRITERIA),
    *(CounterKpi(f"score_count_{criterion}", NOWHERE) for criterion in CRITERIA),
)

STORED: Final[tuple[str, ...]] = tuple(c.name for c in COUNTERS if c.stored)
SLOT: Final[dict[str, int]] = {name: i for i, name in enumerate(STORED)}
SLOTS: Final = len(STORED)
SCORE_SUM: Final[dict[str, int]] = {c: SLOT[f"score_sum_{c}"] for c in CRITERIA}
SCORE_COUNT: Final[dict[str, int]] = {c: SLOT[f"score_count_{c}"] for c in CRITERIA}


@dataclass(frozen=True, slots=True)
class RatioKpi:
    """``numerator * scale / denominator``, where both counters live and the denominator != 0."""

    name: str
    numerator: str
    denominator: str
    scale: int = 1


RATIOS: Final[tuple[RatioKpi, ...]] = (
    RatioKpi("engagement_rate_by_reach", "engagements", "reach"),
    RatioKpi("engagement_rate_by_impressions", "engagements", "impressions"),
    RatioKpi("engagement_rate_by_views", "engagements", "views"),
    RatioKpi("engagement_rate_by_followers", "engagements", "potential_reach"),
    RatioKpi("engagement_rate_by_reach_sum", "engagements", "reach_sum"),
    RatioKpi("frequency", "impressions", "reach"),
    RatioKpi("ctr", "clicks_valid", "impressions"),
    RatioKpi("conversion_rate", "orders_link", "clicks_valid"),
    RatioKpi("action_rate", "conversions_link", "clicks_valid"),
    RatioKpi("aov_minor", "revenue_minor", "orders"),
    RatioKpi("cpm_minor", "spend_minor", "impressions", 1000),
    RatioKpi("cpe_minor", "spend_minor", "engagements"),
    RatioKpi("cpc_minor", "spend_minor", "clicks_valid"),
    RatioKpi("cpa_minor", "spend_minor", "orders"),
    RatioKpi("cost_per_conversion_minor", "spend_minor", "conversions"),
    RatioKpi("roas", "revenue_minor", "spend_minor"),
    RatioKpi("roas_net", "revenue_net_minor", "spend_minor"),
)
# Ratios computed apart: content scores (window `all`, where reviews are) and budget use.
CONTENT_SCORES: Final[tuple[str, ...]] = (
    "content_score", *(f"content_score_{criterion}" for criterion in CRITERIA),
)
OTHER_RATIOS: Final[tuple[str, ...]] = (*CONTENT_SCORES, "budget_used")
# Lower is better for these (contract 2: progress below 1 is good).
COST_KPIS: Final = frozenset(
    {"cpm_minor", "cpe_minor", "cpc_minor", "cpa_minor", "cost_per_conversion_minor"}
)
OBJECT_KPIS: Final[tuple[str, ...]] = ("conversions_by_action", "brand_lift", "target_progress")
POST_ATTRIBUTES: Final[tuple[str, ...]] = (
    "influencer_id", "platform", "format", "published_at", "metrics_source",
)
INFLUENCER_ATTRIBUTES: Final[tuple[str, ...]] = ("tier",)
# Text (or integer) fields that describe a scope; `objective` describes the campaign.
ATTRIBUTES: Final[tuple[str, ...]] = (*POST_ATTRIBUTES, *INFLUENCER_ATTRIBUTES, "objective")

PUBLISHED_COUNTERS: Final[tuple[str, ...]] = tuple(c.name for c in COUNTERS if c.where)
RATIO_NAMES: Final[tuple[str, ...]] = (*(r.name for r in RATIOS), *OTHER_RATIOS)
# What a target may name (contract 1.2): counters and ratios, not objects or attributes.
KPI_NAMES: Final[frozenset[str]] = frozenset(PUBLISHED_COUNTERS + RATIO_NAMES)
LEADERBOARD_KPIS: Final[tuple[str, ...]] = (
    "engagements", "reach", "clicks_valid", "orders", "revenue_minor", "reach_sum", "conversions",
)


def layout(scope: Scope, window: Window) -> tuple[str, ...]:
    """The counters a KPI set of this scope and window carries, in table order."""
    return tuple(c.name for c in COUNTERS if (scope, window) in c.where)


# Per place: (name, slot) of each stored counter; (name, (slot, sign)...) of each sum;
# whether reach and influencers_active are shown; the ratios whose two counters it has.
@dataclass(frozen=True, slots=True)
class _Plan:
    counters: tuple[tuple[str, int, tuple[tuple[int, int], ...]], ...]
    reach: bool
    influencers: bool
    conversions: bool  # carries conversions_by_action
    ratio_terms: tuple[tuple[str, str, str, int], ...]  # (name, numerator, denominator, scale)


def _terms(parts: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    return tuple(
        (SLOT[part[1:]], -1) if part.startswith("-") else (SLOT[part], 1) for part in parts
    )


def _plan(place: Place) -> _Plan:
    names = layout(*place)
    entries = []
    for counter in COUNTERS:
        if counter.name in names and not counter.computed:
            slot = SLOT[counter.name] if counter.stored else -1
            entries.append((counter.name, slot, _terms(counter.parts)))
    return _Plan(
        tuple(entries),
        "reach" in names,
        "influencers_active" in names,
        "conversions" in names,
        tuple(
            (r.name, r.numerator, r.denominator, r.scale)
            for r in RATIOS if r.numerator in names and r.denominator in names
        ),
    )


_PLANS: Final[dict[Place, _Plan]] = {place: _plan(place) for place in EVERYWHERE}


class Aggregate:
    """The state of one KPI set: integer slots, a reach count, active influencers.

    ``reach`` is a :class:`Reach` of viewer hashes, or an integer where reach is known as a
    number (a platform post's reach in force, or a window reduced to its values once final).
    ``influencers`` likewise becomes a count once its window is final. Aggregates compare by
    identity: the engine tracks changed ones in sets.
    """

    __slots__ = ("by_action", "counts", "influencers", "key", "reach")

    def __init__(self, key: tuple[Scope, str, Window, int | None]) -> None:
        """Start at zero."""
        self.key = key
        self.counts: list[int] = [0] * SLOTS
        self.reach: Reach | int | None = None
        self.influencers: set[str] | int | None = None
        self.by_action: dict[str, int] | None = None

    def reach_value(self) -> int:
        """Distinct viewers (or the reach known as a number)."""
        reach = self.reach
        if reach is None:
            return 0
        return reach if type(reach) is int else reach.estimate()  # type: ignore[union-attr]

    def influencer_count(self) -> int:
        """Distinct influencers with a post in this set."""
        influencers = self.influencers
        if influencers is None:
            return 0
        return influencers if type(influencers) is int else len(influencers)  # type: ignore[arg-type]


def kpi_values(
    agg: Aggregate,
    definition: CampaignDefined | None,
    attributes: Mapping[str, str | int],
    brand_lift: dict[str, dict[str, int | float]] | None = None,
) -> dict[str, object]:
    """The KPI set of one aggregate: counters (zeros included), ratios, objects, attributes."""
    scope, _, window, _ = agg.key
    plan = _PLANS[scope, window]
    c = agg.counts
    # The hot path of every flush (once per changed set): comprehensions, no per-field calls.
    numbers: dict[str, int] = {
        name: c[slot] if slot >= 0 else sum([sign * c[part] for part, sign in terms])
        for name, slot, terms in plan.counters
    }
    if plan.influencers:
        numbers["influencers_active"] = agg.influencer_count()
    if plan.reach:
        numbers["reach"] = agg.reach_value()
    values: dict[str, object] = dict(numbers)
    for name, numerator, denominator, scale in plan.ratio_terms:
        below = numbers[denominator]
        if below:
            values[name] = numbers[numerator] * scale / below
    if window is Window.ALL:
        _add_content_scores(c, values)
    if plan.conversions:
        values["conversions_by_action"] = dict(sorted((agg.by_action or {}).items()))
    if brand_lift:
        values["brand_lift"] = brand_lift
    if scope is Scope.CAMPAIGN and window is Window.ALL and definition is not None:
        if definition.budget_minor:
            values["budget_used"] = numbers["spend_minor"] / definition.budget_minor
        values["objective"] = definition.objective
        if definition.targets:
            values["target_progress"] = target_progress(values, definition.targets)
    values.update(attributes)
    return values


def _add_content_scores(c: list[int], values: dict[str, object]) -> None:
    """Mean of every criterion score of the reviews in force, then one mean per criterion."""
    total = sum(c[SCORE_SUM[criterion]] for criterion in CRITERIA)
    count = sum(c[SCORE_COUNT[criterion]] for criterion in CRITERIA)
    if count:
        values["content_score"] = total / count
    for criterion in CRITERIA:
        if c[SCORE_COUNT[criterion]]:
            values[f"content_score_{criterion}"] = (
                c[SCORE_SUM[criterion]] / c[SCORE_COUNT[criterion]]
            )


def target_progress(values: Mapping[str, object], targets: Mapping[str, float]) -> dict[str, float]:
    """KPI -> value / target for the targeted KPIs present (cost KPIs: below 1 is good)."""
    progress: dict[str, float] = {}
    for name, target in targets.items():
        value = values.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            progress[name] = value / target
    return progress


# A question's answers in force: exposed, exposed positive, control, control positive.
LiftCounts = list[int]


def brand_lift(counts: Mapping[str, LiftCounts]) -> dict[str, dict[str, int | float]]:
    """The ``brand_lift`` object (contract 2) for the questions with an answer in force.

    Evaluated in the contract's order of operations: lift = ep/e - cp/c; relative lift =
    lift / (cp/c); pooled p = (ep + cp)/(e + c); z = lift / sqrt(p(1 - p)(1/e + 1/c)).
    """
    lift: dict[str, dict[str, int | float]] = {}
    for question in QUESTIONS:
        answers = counts.get(question)
        if answers is None or not (answers[0] or answers[2]):
            continue
        exposed, exposed_positive, control, control_positive = answers
        entry: dict[str, int | float] = {
            "exposed": exposed,
            "exposed_positive": exposed_positive,
            "control": control,
            "control_positive": control_positive,
        }
        if exposed and control:
            difference = exposed_positive / exposed - control_positive / control
            entry["lift"] = difference
            if control_positive:
                entry["relative_lift"] = difference / (control_positive / control)
            pooled = (exposed_positive + control_positive) / (exposed + control)
            if 0 < pooled < 1:
                entry["z"] = difference / math.sqrt(
                    pooled * (1 - pooled) * (1 / exposed + 1 / control)
                )
        lift[question] = entry
    return lift
