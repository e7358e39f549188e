"""The contract's closed vocabularies (docs/contract.md sections 1-2), each defined once.

String enums compare and hash like their values, so a decoded field (a plain ``str``) and a
member are interchangeable as dictionary keys and in comparisons.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Topic(StrEnum):
    """Logical input topics (the contract's default topic names)."""

    CAMPAIGNS = "campaigns"
    POSTS = "posts"
    INTERACTIONS = "interactions"
    CLICKS = "clicks"
    ORDERS = "orders"
    CONTENT_REVIEWS = "content-reviews"
    CONVERSIONS = "conversions"
    SURVEYS = "surveys"


# The event types each topic carries (contract 1), in the order the codec names them.
TOPIC_TYPES: Final[dict[Topic, tuple[str, ...]]] = {
    Topic.CAMPAIGNS: ("campaign",),
    Topic.POSTS: ("post_published",),
    Topic.INTERACTIONS: ("interaction", "post_metrics"),
    Topic.CLICKS: ("click",),
    Topic.ORDERS: ("order", "order_refund"),
    Topic.CONTENT_REVIEWS: ("content_review",),
    Topic.CONVERSIONS: ("conversion",),
    Topic.SURVEYS: ("survey_response",),
}
TYPE_TOPICS: Final[dict[str, Topic]] = {
    type_: topic for topic, types in TOPIC_TYPES.items() for type_ in types
}
# Topics whose event ids are forgotten past the dedup horizon (contract 3).
BOUNDED_DEDUP_TOPICS: Final = frozenset({Topic.INTERACTIONS, Topic.CLICKS})
# Topics whose records can land in the 1m/1h/1d windows (definitions, reviews and survey
# answers feed window `all` only).
WINDOW_TOPICS: Final = (
    Topic.POSTS, Topic.INTERACTIONS, Topic.CLICKS, Topic.ORDERS, Topic.CONVERSIONS,
)


class Scope(StrEnum):
    """What a KPI set is about."""

    CAMPAIGN = "campaign"
    INFLUENCER = "influencer"
    POST = "post"


class Window(StrEnum):
    """Event-time windows; ``ALL`` is every counted event whatever its time."""

    ALL = "all"
    DAY = "1d"
    HOUR = "1h"
    MINUTE = "1m"


WINDOW_SIZES_S: Final[dict[Window, int]] = {
    Window.DAY: 86_400, Window.HOUR: 3_600, Window.MINUTE: 60,
}
# Which windows each scope has besides `all`, longest first.
SCOPE_WINDOWS: Final[dict[Scope, tuple[Window, ...]]] = {
    Scope.CAMPAIGN: (Window.DAY, Window.HOUR, Window.MINUTE),
    Scope.INFLUENCER: (Window.DAY, Window.HOUR),
    Scope.POST: (),
}


class Outcome(StrEnum):
    """What happened to an input record (the engine decides the first three)."""

    COUNTED = "counted"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID = "invalid"  # dead-lettered
    SKIPPED = "skipped"  # applied before a restart: its effect is in the restored state


class Channel(StrEnum):
    """How an order or a conversion was attributed (contract 1.6)."""

    CODE = "code"
    LINK = "link"
    UNATTRIBUTED = "unattributed"


class Source(StrEnum):
    """Where a post's metrics come from (contract 1.4.1)."""

    EVENTS = "events"
    PLATFORM = "platform"


class Group(StrEnum):
    """Brand-lift survey groups (contract 1.10)."""

    EXPOSED = "exposed"
    CONTROL = "control"


OBJECTIVES: Final[tuple[str, ...]] = ("awareness", "engagement", "conversion")
TIERS: Final[tuple[str, ...]] = ("nano", "micro", "mid", "macro", "mega")
PLATFORMS: Final[tuple[str, ...]] = (
    "instagram", "tiktok", "youtube", "facebook", "x", "linkedin",
    "pinterest", "twitch", "snapchat", "blog", "other",
)
FORMATS: Final[tuple[str, ...]] = (
    "post", "carousel", "reel", "story", "video", "short", "live", "other",
)
INTERACTION_ACTIONS: Final[tuple[str, ...]] = (
    "impression", "view", "like", "comment", "share", "save", "reply",
)
# The actions whose viewers count towards reach.
REACH_ACTIONS: Final = frozenset({"impression", "view"})
CLICK_CHANNELS: Final[tuple[str, ...]] = ("link", "swipe_up", "qr", "bio_link")
CRITERIA: Final[tuple[str, ...]] = (
    "brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance",
)
CONVERSION_ACTIONS: Final[tuple[str, ...]] = (
    "lead", "signup", "app_install", "download", "contest_entry", "subscription", "other",
)
QUESTIONS: Final[tuple[str, ...]] = (
    "awareness", "recall", "consideration", "preference", "intent",
)
# A platform snapshot's metrics (contract 1.4.1) and the interaction action each stands for;
# `reach` has none: it is the post's reach in force.
SNAPSHOT_METRICS: Final[dict[str, str | None]] = {
    "impressions": "impression",
    "reach": None,
    "views": "view",
    "likes": "like",
    "comments": "comment",
    "shares": "share",
    "saves": "save",
    "replies": "reply",
}
