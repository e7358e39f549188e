"""Typed, immutable input events of the contract (docs/contract.md section 1).

The codec produces them.
Times are integers: microseconds since the Unix epoch, UTC (the contract compares times with
microsecond precision). Money is integer minor units. Optional fields absent on the wire are
``None`` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Event:
    """Fields common to every event (contract 1.1)."""

    event_id: str
    occurred_at_us: int
    campaign_id: str


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One influencer of a campaign's roster."""

    influencer_id: str
    tier: str | None = None
    promo_codes: tuple[str, ...] = ()
    link_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignDefined(Event):
    """A campaign definition (upsert), contract 1.2.

    ``code_owners`` maps each case-folded promo code to its influencer, ``link_owners`` each
    link id; :func:`streams.domain.attribution.index_roster` builds both from the roster.
    """

    name: str
    objective: str
    starts_at_us: int
    ends_at_us: int
    currency: str
    brand: str | None = None
    budget_minor: int | None = None
    attribution_window_days: int = 7
    targets: dict[str, float] = field(default_factory=dict)
    influencers: tuple[RosterEntry, ...] = ()
    code_owners: dict[str, str] = field(default_factory=dict)
    link_owners: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostPublished(Event):
    """A post went live, contract 1.3."""

    post_id: str
    influencer_id: str
    platform: str
    format: str
    followers: int
    cost_minor: int = 0


@dataclass(frozen=True, slots=True)
class Interaction(Event):
    """``count`` identical actions on a post, contract 1.4."""

    post_id: str
    influencer_id: str
    action: str
    viewer_id: str | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class PostMetrics(Event):
    """A platform snapshot of one post's lifetime counters, contract 1.4.1.

    ``metrics`` holds the (metric, value) pairs the snapshot carries, in the order of
    :data:`~streams.domain.vocabulary.SNAPSHOT_METRICS`.
    """

    post_id: str
    influencer_id: str
    metrics: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Click(Event):
    """A tracked-link click, swipe-up or QR scan, contract 1.5."""

    link_id: str
    influencer_id: str
    channel: str
    post_id: str | None = None
    visitor_id: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Order(Event):
    """An order, contract 1.6."""

    order_id: str
    amount_minor: int
    currency: str
    promo_code: str | None = None
    link_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRefund(Event):
    """A refund of a counted order, contract 1.6.1."""

    refund_id: str
    order_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class ContentReview(Event):
    """A qualitative review of one post by one reviewer, contract 1.7.

    ``scores`` holds (criterion, score) pairs in the order of
    :data:`~streams.domain.vocabulary.CRITERIA`.
    """

    post_id: str
    influencer_id: str
    reviewer_id: str
    scores: tuple[tuple[str, int], ...]
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion(Event):
    """An action other than a purchase (a lead, a sign-up, an app install...), contract 1.9."""

    conversion_id: str
    action: str
    promo_code: str | None = None
    link_id: str | None = None
    customer_id: str | None = None
    value_minor: int | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class SurveyResponse(Event):
    """One brand-lift questionnaire answer, contract 1.10."""

    respondent_id: str
    group: str
    question: str
    positive: bool


AnyEvent = (
    CampaignDefined | PostPublished | Interaction | PostMetrics | Click | Order | OrderRefund
    | ContentReview | Conversion | SurveyResponse
)
# Events attributed to an influencer by promo code or link (contract 1.6, 1.9).
Attributable = Order | Conversion
