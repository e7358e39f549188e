"""The campaign report's recommendation rules: pure, explained, each with named thresholds.

Every rule reads one campaign's own figures (:class:`CampaignFacts`) and nothing else: no
rule compares a campaign with another one, so none can compare objectives. Each finding
names its rule, the figures that triggered it and the action it suggests. :data:`RULES`
lists the rules in the order the report shows them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from streams.domain.objectives import (
    AHEAD_FROM,
    BEHIND,
    COST_PER_RESULT,
    Pacing,
    headline_kpis,
)

Number = int | float

# ---- Thresholds (where each comes from is in its comment) -----------------------------------

# Counts are Poisson-like: their relative standard error is 1/sqrt(n), 18 % at 30 events.
# Below that, a KPI resting on the count moves by a fifth with a handful of events more or
# less, so the report says it means little (and the cost rule waits for it).
MIN_EVENTS: Final = 30
# "Far above the median": twice the campaign's median cost per result. With MIN_EVENTS
# results, a true cost at the median would give twice the median only if the count fell to
# half its expectation, about 4 standard errors: not noise.
COSTLY_RATIO: Final = 2.0
# A median of fewer than three influencers is one of them, or the mean of two.
MIN_INFLUENCERS_FOR_MEDIAN: Final = 3
# Scores are 1..5: 4 is "good" on every criterion; reusability must be near the top (4.5),
# and compliance at least good, before content is bought as paid media; two reviewers at
# least (the agency's practice: a brand manager and an agency lead).
REUSE_MIN_SCORE: Final = 4.0
REUSE_MIN_REUSABILITY: Final = 4.5
REUSE_MIN_COMPLIANCE: Final = 4.0
REUSE_MIN_REVIEWS: Final = 2
# Bots and link-preview fetchers are "a few to ~15 % of raw clicks" (domain notes): above
# 15 % a link is abnormal. With 50 clicks the standard error of a 15 % share is 5 points.
BOT_SHARE_MAX: Final = 0.15
BOT_MIN_CLICKS: Final = 50
# Extending needs budget to spend (a fifth of it left) and a pace worth trusting: the launch
# wave front-loads results (~80 % of a post's engagement comes within 24 h, domain notes), so
# a pace read in the first quarter of the schedule overstates.
EXTEND_MIN_BUDGET_LEFT: Final = 0.2
EXTEND_MIN_ELAPSED: Final = 0.25
# Brand lift: with 300 answers per group a 95 % test detects about an 8-10 point lift around
# a 30 % base rate (domain notes); with fewer than 100 it would take about 17 points, far
# beyond the few points a campaign typically moves, so a reading is not worth much.
LIFT_MIN_GROUP: Final = 100
Z_95: Final = 1.96  # two-sided 95 % for a two-proportion z test

# The count each KPI rests on, for the too-few-events rule (its precision is that count's).
BASIS: Final[dict[str, str]] = {
    "reach": "reach",
    "reach_sum": "reach_sum",
    "impressions": "impressions",
    "frequency": "reach",
    "cpm_minor": "impressions",
    "engagements": "engagements",
    "engagement_rate_by_reach": "engagements",
    "engagement_rate_by_reach_sum": "engagements",
    "engagement_rate_by_impressions": "engagements",
    "engagement_rate_by_views": "engagements",
    "engagement_rate_by_followers": "engagements",
    "cpe_minor": "engagements",
    "clicks_valid": "clicks_valid",
    "ctr": "clicks_valid",
    "orders": "orders",
    "revenue_minor": "orders",
    "revenue_net_minor": "orders",
    "cpa_minor": "orders",
    "roas": "orders",
    "roas_net": "orders",
    "conversion_rate": "orders_link",
    "conversions": "conversions",
    "conversions_by_action": "conversions",
    "cost_per_conversion_minor": "conversions",
    "action_rate": "conversions_link",
    "content_score": "reviews",
}

# The result each objective's cost KPI is per, in COST_PER_RESULT order.
_RESULT_OF_COST: Final[dict[str, str]] = {
    "cpm_minor": "impressions",
    "cpe_minor": "engagements",
    "cpa_minor": "orders",
    "cost_per_conversion_minor": "conversions",
}

QUESTIONS: Final[tuple[str, ...]] = ("awareness", "recall", "consideration", "preference", "intent")


# ---- Inputs and findings --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopeFigures:
    """The ``all``-window KPIs of one influencer or post."""

    scope_id: str
    kpis: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class CampaignFacts:
    """What the rules read: one campaign's own KPI sets, pacing and schedule."""

    objective: str | None
    campaign: Mapping[str, object]  # the campaign `all` KPI set
    influencers: Sequence[ScopeFigures] = ()
    posts: Sequence[ScopeFigures] = ()
    pacing: Sequence[Pacing] = ()
    elapsed: float | None = None  # share of the schedule elapsed; None when unknown


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One finding: the rule, what it is about, the figures, why, and what to do."""

    rule: str
    subject: str
    figures: dict[str, Number | str]
    explanation: str
    action: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule with its thresholds (name -> value) and its check."""

    name: str
    summary: str
    thresholds: dict[str, Number]
    check: Callable[[CampaignFacts], list[Recommendation]] = field(repr=False)


def _number(value: object) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---- The rules ------------------------------------------------------------------------------


def _cost_kpi(objective: str | None, rows: Sequence[ScopeFigures]) -> str | None:
    for name in COST_PER_RESULT.get(objective or "", ()):
        if any(_number(row.kpis.get(name)) is not None for row in rows):
            return name
    return None


def reallocate_budget(facts: CampaignFacts) -> list[Recommendation]:
    """An influencer whose cost per result is far above the campaign's median, on enough data."""
    cost = _cost_kpi(facts.objective, facts.influencers)
    if cost is None:
        return []
    result = _RESULT_OF_COST[cost]
    eligible: list[tuple[ScopeFigures, Number, Number]] = []
    for row in facts.influencers:
        value, results = _number(row.kpis.get(cost)), _number(row.kpis.get(result))
        if value is not None and results is not None and results >= MIN_EVENTS:
            eligible.append((row, value, results))
    if len(eligible) < MIN_INFLUENCERS_FOR_MEDIAN:
        return []
    median = statistics.median(value for _, value, _ in eligible)
    cheaper = sorted((row.scope_id for row, value, _ in eligible if value < median))
    findings = []
    for row, value, results in eligible:
        if median > 0 and value > COSTLY_RATIO * median:
            findings.append(
                Recommendation(
                    rule="reallocate_budget",
                    subject=f"influencer {row.scope_id}",
                    figures={
                        cost: value,
                        f"campaign median {cost}": median,
                        "ratio to median": value / median,
                        result: results,
                    },
                    explanation=(
                        f"{cost} is {value / median:.1f}x the median of the campaign's "
                        f"{len(eligible)} influencers with at least {MIN_EVENTS} {result} "
                        f"(threshold {COSTLY_RATIO:g}x)"
                    ),
                    action=(
                        f"move budget from {row.scope_id} to influencers below the median"
                        + (f" ({', '.join(cheaper)})" if cheaper else "")
                    ),
                )
            )
    return findings


def reuse_as_paid_media(facts: CampaignFacts) -> list[Recommendation]:
    """A post whose content score and reusability are high, by enough reviewers."""
    findings = []
    for row in facts.posts:
        score = _number(row.kpis.get("content_score"))
        reusability = _number(row.kpis.get("content_score_reusability"))
        compliance = _number(row.kpis.get("content_score_compliance"))
        reviews = _number(row.kpis.get("reviews")) or 0
        if (
            score is not None and reusability is not None and compliance is not None
            and reviews >= REUSE_MIN_REVIEWS
            and score >= REUSE_MIN_SCORE
            and reusability >= REUSE_MIN_REUSABILITY
            and compliance >= REUSE_MIN_COMPLIANCE
        ):
            findings.append(
                Recommendation(
                    rule="reuse_as_paid_media",
                    subject=f"post {row.scope_id}",
                    figures={
                        "content_score": score,
                        "content_score_reusability": reusability,
                        "content_score_compliance": compliance,
                        "reviews": reviews,
                    },
                    explanation=(
                        f"content score {score:.2f} >= {REUSE_MIN_SCORE:g}, reusability "
                        f"{reusability:.2f} >= {REUSE_MIN_REUSABILITY:g} and compliance "
                        f"{compliance:.2f} >= {REUSE_MIN_COMPLIANCE:g}, from {reviews} reviews"
                    ),
                    action="license the post from its creator and reuse it as paid media",
                )
            )
    return findings


def check_bot_clicks(facts: CampaignFacts) -> list[Recommendation]:
    """Links whose share of bot clicks is high (per influencer and per post: no link scope)."""
    findings = []
    scopes = [("campaign", facts.campaign)]
    scopes += [(f"influencer {row.scope_id}", row.kpis) for row in facts.influencers]
    scopes += [(f"post {row.scope_id}", row.kpis) for row in facts.posts]
    for subject, kpis in scopes:
        clicks, bots = _number(kpis.get("clicks")), _number(kpis.get("clicks_bot"))
        if clicks is None or bots is None or clicks < BOT_MIN_CLICKS:
            continue
        share = bots / clicks
        if share > BOT_SHARE_MAX:
            findings.append(
                Recommendation(
                    rule="check_bot_clicks",
                    subject=subject,
                    figures={"clicks": clicks, "clicks_bot": bots, "bot share": share},
                    explanation=(
                        f"{share:.0%} of {clicks} clicks came from bots or link-preview "
                        f"fetchers (threshold {BOT_SHARE_MAX:.0%} on at least "
                        f"{BOT_MIN_CLICKS} clicks)"
                    ),
                    action=(
                        f"check where the tracked links of {subject} are shared (group chats "
                        "and messengers fetch previews) and whether a crawler follows them"
                    ),
                )
            )
    return findings


def extend_campaign(facts: CampaignFacts) -> list[Recommendation]:
    """Pacing ahead on the objective's targets with budget left: extend while it works."""
    if facts.elapsed is None or not EXTEND_MIN_ELAPSED <= facts.elapsed < 1:
        return []
    budget_used = _number(facts.campaign.get("budget_used"))
    if budget_used is None or budget_used > 1 - EXTEND_MIN_BUDGET_LEFT:
        return []
    headline = set(headline_kpis(facts.objective))
    paced = [p for p in facts.pacing if p.kpi in headline and p.pace is not None]
    if not paced or any(p.status == BEHIND for p in paced):
        return []
    ahead = [p for p in paced if p.pace is not None and p.pace >= AHEAD_FROM]
    if not ahead:
        return []
    figures: dict[str, Number | str] = {"budget_used": budget_used, "elapsed": facts.elapsed}
    figures.update({f"pace {p.kpi}": p.pace for p in ahead if p.pace is not None})
    return [
        Recommendation(
            rule="extend_campaign",
            subject="campaign",
            figures=figures,
            explanation=(
                f"{', '.join(p.kpi for p in ahead)} ahead of schedule (pace >= {AHEAD_FROM:g}), "
                f"none behind, {1 - budget_used:.0%} of the budget left "
                f"(at least {EXTEND_MIN_BUDGET_LEFT:.0%}) at {facts.elapsed:.0%} of the schedule"
            ),
            action=(
                "extend the campaign (or add posts) with the budget left while results pace "
                "ahead"
            ),
        )
    ]


def too_few_events(facts: CampaignFacts) -> list[Recommendation]:
    """Headline KPIs computed on fewer than MIN_EVENTS events: one finding per basis count."""
    by_basis: dict[str, list[str]] = {}
    for kpi in headline_kpis(facts.objective):
        basis = BASIS.get(kpi)
        if basis is None or kpi not in facts.campaign:
            continue
        count = _number(facts.campaign.get(basis))
        if count is not None and count < MIN_EVENTS:
            by_basis.setdefault(basis, []).append(kpi)
    findings = []
    for basis, kpis in by_basis.items():
        count = _number(facts.campaign.get(basis))
        assert count is not None
        findings.append(
            Recommendation(
                rule="too_few_events",
                subject="campaign",
                figures={basis: count, "KPIs": ", ".join(kpis)},
                explanation=(
                    f"{', '.join(kpis)} rest on {basis} = {count}, fewer than {MIN_EVENTS} "
                    f"(relative error of such a count: 1/sqrt(n) = "
                    f"{1 / math.sqrt(count) if count > 0 else math.inf:.0%} or more)"
                ),
                action="read these figures as indications only; wait for more events before "
                "acting on them",
            )
        )
    return findings


@dataclass(frozen=True, slots=True)
class LiftReading:
    """One brand-lift question read for people: rates, lift, significance, sample warning."""

    question: str
    exposed: int
    exposed_positive: int
    control: int
    control_positive: int
    lift: float | None
    relative_lift: float | None
    z: float | None

    @property
    def exposed_rate(self) -> float | None:
        """Share of positive answers among the exposed."""
        return self.exposed_positive / self.exposed if self.exposed else None

    @property
    def control_rate(self) -> float | None:
        """Share of positive answers in the control group."""
        return self.control_positive / self.control if self.control else None

    @property
    def significant(self) -> bool:
        """|z| >= 1.96: the lift is significant at 95 % (two-sided)."""
        return self.z is not None and abs(self.z) >= Z_95

    @property
    def too_small(self) -> bool:
        """Fewer than LIFT_MIN_GROUP answers in either group."""
        return min(self.exposed, self.control) < LIFT_MIN_GROUP


def read_brand_lift(brand_lift: object) -> list[LiftReading]:
    """The questions of a ``brand_lift`` KPI (contract v2), in the contract's question order."""
    if not isinstance(brand_lift, Mapping):
        return []
    order = {name: i for i, name in enumerate(QUESTIONS)}
    readings = []
    for question in sorted(brand_lift, key=lambda q: (order.get(q, len(order)), q)):
        entry = brand_lift[question]
        if not isinstance(entry, Mapping):
            continue

        def count(name: str, entry: Mapping[str, object] = entry) -> int:
            value = entry.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        def ratio(name: str, entry: Mapping[str, object] = entry) -> float | None:
            value = _number(entry.get(name))
            return None if value is None else float(value)

        readings.append(
            LiftReading(
                question,
                count("exposed"),
                count("exposed_positive"),
                count("control"),
                count("control_positive"),
                ratio("lift"),
                ratio("relative_lift"),
                ratio("z"),
            )
        )
    return readings


def brand_lift_sample(facts: CampaignFacts) -> list[Recommendation]:
    """Brand-lift questions answered by too few people in either group."""
    findings = []
    for reading in read_brand_lift(facts.campaign.get("brand_lift")):
        if reading.too_small:
            findings.append(
                Recommendation(
                    rule="brand_lift_sample",
                    subject=f"brand lift question {reading.question}",
                    figures={"exposed": reading.exposed, "control": reading.control},
                    explanation=(
                        f"{reading.exposed} exposed and {reading.control} control answers: "
                        f"fewer than {LIFT_MIN_GROUP} in a group, so only a lift of well over "
                        "15 points could show as significant"
                    ),
                    action="collect more answers in both groups before reading this lift",
                )
            )
    return findings


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "reallocate_budget",
        "an influencer's cost per result is far above the campaign's median",
        {
            "COSTLY_RATIO": COSTLY_RATIO,
            "MIN_EVENTS": MIN_EVENTS,
            "MIN_INFLUENCERS_FOR_MEDIAN": MIN_INFLUENCERS_FOR_MEDIAN,
        },
        reallocate_budget,
    ),
    Rule(
        "reuse_as_paid_media",
        "a post's content score and reusability are high",
        {
            "REUSE_MIN_SCORE": REUSE_MIN_SCORE,
            "REUSE_MIN_REUSABILITY": REUSE_MIN_REUSABILITY,
            "REUSE_MIN_COMPLIANCE": REUSE_MIN_COMPLIANCE,
            "REUSE_MIN_REVIEWS": REUSE_MIN_REVIEWS,
        },
        reuse_as_paid_media,
    ),
    Rule(
        "check_bot_clicks",
        "the share of bot clicks on an influencer's or a post's links is high",
        {"BOT_SHARE_MAX": BOT_SHARE_MAX, "BOT_MIN_CLICKS": BOT_MIN_CLICKS},
        check_bot_clicks,
    ),
    Rule(
        "extend_campaign",
        "targets pace ahead of schedule with budget left",
        {
            "AHEAD_FROM": AHEAD_FROM,
            "EXTEND_MIN_BUDGET_LEFT": EXTEND_MIN_BUDGET_LEFT,
            "EXTEND_MIN_ELAPSED": EXTEND_MIN_ELAPSED,
        },
        extend_campaign,
    ),
    Rule(
        "too_few_events",
        "a headline KPI rests on too few events to mean much",
        {"MIN_EVENTS": MIN_EVENTS},
        too_few_events,
    ),
    Rule(
        "brand_lift_sample",
        "a brand-lift question has too few answers in a group",
        {"LIFT_MIN_GROUP": LIFT_MIN_GROUP},
        brand_lift_sample,
    ),
)


def recommend(facts: CampaignFacts) -> list[Recommendation]:
    """Every rule's findings, rule by rule in :data:`RULES` order."""
    return [finding for rule in RULES for finding in rule.check(facts)]


__all__ = [
    "BASIS",
    "RULES",
    "CampaignFacts",
    "LiftReading",
    "Recommendation",
    "Rule",
    "ScopeFigures",
    "read_brand_lift",
    "recommend",
]
