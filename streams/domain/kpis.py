"""KPI names and formulas of contract section 2; every ratio is defined once, here."""

from __future__ import annotations

from typing import Final

from streams.domain.aggregate import (
    CLICKS_BOT,
    CLICKS_REPEAT,
    CLICKS_VALID,
    COMMENTS,
    DUPLICATES,
    IMPRESSIONS,
    LATE,
    LIKES,
    ORDERS_CODE,
    ORDERS_LINK,
    ORDERS_OUT_OF_WINDOW,
    ORDERS_UNATTRIBUTED,
    POSTS,
    POTENTIAL_REACH,
    REPLIES,
    REVENUE,
    REVIEWS,
    SAVES,
    SCORE_COUNT,
    SCORE_SUM,
    SHARES,
    SPEND,
    VIEWS,
    Aggregate,
)
from streams.domain.events import CRITERIA, CampaignDefined
from streams.domain.windows import ALL, CAMPAIGN, INFLUENCER, SCOPE_WINDOWS, SCOPES

COUNTERS: Final[tuple[str, ...]] = (
    "posts", "influencers_active", "potential_reach", "spend_minor",
    "impressions", "views", "likes", "comments", "shares", "saves", "replies", "engagements",
    "reach",
    "clicks", "clicks_valid", "clicks_bot", "clicks_repeat",
    "orders", "orders_code", "orders_link", "orders_unattributed", "revenue_minor",
    "orders_out_of_window", "reviews", "duplicate_events", "late_events",
)
RATIOS: Final[tuple[str, ...]] = (
    "engagement_rate_by_reach", "engagement_rate_by_impressions", "engagement_rate_by_views",
    "engagement_rate_by_followers", "frequency", "ctr", "conversion_rate", "aov_minor",
    "cpm_minor", "cpe_minor", "cpc_minor", "cpa_minor", "roas",
    "content_score", *(f"content_score_{criterion}" for criterion in CRITERIA),
    "budget_used",
)
KPI_NAMES: Final[frozenset[str]] = frozenset(COUNTERS + RATIOS)

_EVERYWHERE: Final[tuple[str, ...]] = (
    "posts", "impressions", "views", "likes", "comments", "shares", "saves", "replies",
    "engagements", "clicks", "clicks_valid", "clicks_bot", "clicks_repeat",
)


def counters_at(scope: str, window: str) -> tuple[str, ...]:
    """The counters the contract places at a scope and window, in COUNTERS order."""
    present = set(_EVERYWHERE)
    if scope == CAMPAIGN:
        present |= {"influencers_active", "orders_unattributed"}
    if scope in (CAMPAIGN, INFLUENCER):
        present |= {"orders", "orders_code", "orders_link", "revenue_minor"}
    if window == ALL:
        present |= {"potential_reach", "spend_minor", "reviews"}
        if scope == CAMPAIGN:
            present |= {"orders_out_of_window", "duplicate_events", "late_events"}
    if window != "1m":
        present.add("reach")
    return tuple(name for name in COUNTERS if name in present)


LAYOUT: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    (scope, window): counters_at(scope, window)
    for scope in SCOPES
    for window in (ALL, *SCOPE_WINDOWS[scope])
}

# The layouts whose KPI sets can lose a field: the `all` windows, which carry what a
# definition sets (`budget_used`, targets) and what the reviews in force give (a replacing
# review may score other criteria, or name another influencer). Counters only grow and reach
# never returns to 0, so in the other windows a ratio, once present, stays.
SHRINKING_LAYOUTS: Final[frozenset[tuple[str, str]]] = frozenset(
    (scope, ALL) for scope in SCOPES
)

# Ratio name -> (numerator, denominator, scale). A ratio is present exactly where both of its
# counters are present (which is the contract's "where" column) and the denominator is not 0.
RATIO_FORMULAS: Final[tuple[tuple[str, str, str, int], ...]] = (
    ("engagement_rate_by_reach", "engagements", "reach", 1),
    ("engagement_rate_by_impressions", "engagements", "impressions", 1),
    ("engagement_rate_by_views", "engagements", "views", 1),
    ("engagement_rate_by_followers", "engagements", "potential_reach", 1),
    ("frequency", "impressions", "reach", 1),
    ("ctr", "clicks_valid", "impressions", 1),
    ("conversion_rate", "orders_link", "clicks_valid", 1),
    ("aov_minor", "revenue_minor", "orders", 1),
    ("cpm_minor", "spend_minor", "impressions", 1000),
    ("cpe_minor", "spend_minor", "engagements", 1),
    ("cpc_minor", "spend_minor", "clicks_valid", 1),
    ("cpa_minor", "spend_minor", "orders", 1),
    ("roas", "revenue_minor", "spend_minor", 1),
)


# Per layout: its counters, and the ratio formulas whose two counters it carries.
_PLAN: Final = {
    layout: (
        counters,
        tuple(f for f in RATIO_FORMULAS if f[1] in counters and f[2] in counters),
    )
    for layout, counters in LAYOUT.items()
}


def kpi_values(
    agg: Aggregate, scope: str, window: str, definition: CampaignDefined | None
) -> dict[str, object]:
    """The KPI set of one aggregate: counters (zeros included) then the ratios present."""
    c = agg.counts
    engagements = c[LIKES] + c[COMMENTS] + c[SHARES] + c[SAVES] + c[REPLIES]
    raw: dict[str, int] = {
        "posts": c[POSTS],
        "influencers_active": len(agg.influencers or ()),
        "potential_reach": c[POTENTIAL_REACH],
        "spend_minor": c[SPEND],
        "impressions": c[IMPRESSIONS],
        "views": c[VIEWS],
        "likes": c[LIKES],
        "comments": c[COMMENTS],
        "shares": c[SHARES],
        "saves": c[SAVES],
        "replies": c[REPLIES],
        "engagements": engagements,
        "clicks": c[CLICKS_VALID] + c[CLICKS_BOT] + c[CLICKS_REPEAT],
        "clicks_valid": c[CLICKS_VALID],
        "clicks_bot": c[CLICKS_BOT],
        "clicks_repeat": c[CLICKS_REPEAT],
        "orders_code": c[ORDERS_CODE],
        "orders_link": c[ORDERS_LINK],
        "orders_unattributed": c[ORDERS_UNATTRIBUTED],
        "revenue_minor": c[REVENUE],
        "orders_out_of_window": c[ORDERS_OUT_OF_WINDOW],
        "reviews": c[REVIEWS],
        "duplicate_events": c[DUPLICATES],
        "late_events": c[LATE],
    }
    # Attributed orders reach the influencer scope only, so the sum is right at every scope.
    raw["orders"] = raw["orders_code"] + raw["orders_link"] + raw["orders_unattributed"]
    counters, ratios = _PLAN[scope, window]
    if "reach" in counters:
        raw["reach"] = agg.reach.estimate() if agg.reach is not None else 0
    values: dict[str, object] = {name: raw[name] for name in counters}
    for name, numerator, denominator, scale in ratios:
        if raw[denominator]:
            values[name] = raw[numerator] * scale / raw[denominator]
    if window == ALL:
        _add_content_scores(c, values)
    if scope == CAMPAIGN and window == ALL and definition is not None:
        if definition.budget_minor:
            values["budget_used"] = c[SPEND] / definition.budget_minor
        values["objective"] = definition.objective
        if definition.targets:
            values["target_progress"] = target_progress(values, definition.targets)
    return values


def _add_content_scores(c: list[int], values: dict[str, object]) -> None:
    """Mean of every criterion score of the reviews in force, then one mean per criterion."""
    total = sum(c[SCORE_SUM : SCORE_SUM + len(CRITERIA)])
    count = sum(c[SCORE_COUNT : SCORE_COUNT + len(CRITERIA)])
    if count:
        values["content_score"] = total / count
    for i, criterion in enumerate(CRITERIA):
        if c[SCORE_COUNT + i]:
            values[f"content_score_{criterion}"] = c[SCORE_SUM + i] / c[SCORE_COUNT + i]


def target_progress(values: dict[str, object], targets: dict[str, float]) -> dict[str, float]:
    """KPI -> value / target for the targeted KPIs present (cost KPIs: below 1 is good)."""
    progress: dict[str, float] = {}
    for name, target in targets.items():
        value = values.get(name)
        if isinstance(value, int | float):
            progress[name] = value / target
    return progress
