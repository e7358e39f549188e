"""KPI names and formulas of contract section 2; every ratio is defined once, here."""

from __future__ import annotations

from typing import Final

from streams.domain.events import CRITERIA

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
