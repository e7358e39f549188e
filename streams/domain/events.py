"""Typed, immutable input events of contract v1 (section 1), as the codec produces them.

Times are integers: microseconds since the Unix epoch, UTC (the contract compares times with
microsecond precision). Money is integer minor units. Optional fields absent on the wire are
``None`` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# Logical topics (the contract's default topic names) and the event type each carries.
CAMPAIGNS: Final = "campaigns"
POSTS: Final = "posts"
INTERACTIONS: Final = "interactions"
CLICKS: Final = "clicks"
ORDERS: Final = "orders"
CONTENT_REVIEWS: Final = "content-reviews"

TOPIC_TYPES: Final[dict[str, str]] = {
    CAMPAIGNS: "campaign",
    POSTS: "post_published",
    INTERACTIONS: "interaction",
    CLICKS: "click",
    ORDERS: "order",
    CONTENT_REVIEWS: "content_review",
}
TYPE_TOPICS: Final[dict[str, str]] = {type_: topic for topic, type_ in TOPIC_TYPES.items()}
LOGICAL_TOPICS: Final[tuple[str, ...]] = tuple(TOPIC_TYPES)

OBJECTIVES: Final = frozenset({"awareness", "engagement", "conversion"})
TIERS: Final = frozenset({"nano", "micro", "mid", "macro", "mega"})
PLATFORMS: Final = frozenset(
    {
        "instagram", "tiktok", "youtube", "facebook", "x", "linkedin",
        "pinterest", "twitch", "snapchat", "blog", "other",
    }
)
FORMATS: Final = frozenset({"post", "carousel", "reel", "story", "video", "short", "live", "other"})
ACTIONS: Final = frozenset({"impression", "view", "like", "comment", "share", "save", "reply"})
CHANNELS: Final = frozenset({"link", "swipe_up", "qr", "bio_link"})
CRITERIA: Final[tuple[str, ...]] = (
    "brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance",
)


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
    link id; the codec builds both (see :func:`streams.domain.attribution.index_roster`).
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
class ContentReview(Event):
    """A qualitative review of one post by one reviewer, contract 1.7.

    ``scores`` holds (criterion, score) pairs in the order of :data:`CRITERIA`.
    """

    post_id: str
    influencer_id: str
    reviewer_id: str
    scores: tuple[tuple[str, int], ...]
    comment: str | None = None


AnyEvent = CampaignDefined | PostPublished | Interaction | Click | Order | ContentReview
