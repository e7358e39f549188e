"""Per (scope, window) aggregation state: integer counters, a reach count, active influencers.

State is compact and mergeable: counters add, reach counts and influencer sets unite. Derived
KPIs (engagements, clicks, orders and every ratio) are computed from it on snapshot, in
:mod:`streams.domain.kpis`, so they can never drift from their parts.
"""

from __future__ import annotations

from typing import Final

from streams.domain.events import CRITERIA
from streams.domain.reach import Reach

# Indices into Aggregate.counts.
POSTS: Final = 0
POTENTIAL_REACH: Final = 1
SPEND: Final = 2
IMPRESSIONS: Final = 3
VIEWS: Final = 4
LIKES: Final = 5
COMMENTS: Final = 6
SHARES: Final = 7
SAVES: Final = 8
REPLIES: Final = 9
CLICKS_VALID: Final = 10
CLICKS_BOT: Final = 11
CLICKS_REPEAT: Final = 12
ORDERS_CODE: Final = 13
ORDERS_LINK: Final = 14
ORDERS_UNATTRIBUTED: Final = 15
REVENUE: Final = 16
ORDERS_OUT_OF_WINDOW: Final = 17
DUPLICATES: Final = 18
LATE: Final = 19
REVIEWS: Final = 20
SCORE_SUM: Final = 21  # one per criterion, in CRITERIA order
SCORE_COUNT: Final = SCORE_SUM + len(CRITERIA)
SIZE: Final = SCORE_COUNT + len(CRITERIA)

ACTION_INDEX: Final[dict[str, int]] = {
    "impression": IMPRESSIONS,
    "view": VIEWS,
    "like": LIKES,
    "comment": COMMENTS,
    "share": SHARES,
    "save": SAVES,
    "reply": REPLIES,
}
CRITERION_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(CRITERIA)}


class Aggregate:
    """The state of one KPI set."""

    __slots__ = ("changed", "counts", "influencers", "reach")

    def __init__(self) -> None:
        """Start at zero."""
        self.counts: list[int] = [0] * SIZE
        self.reach: Reach | None = None
        self.influencers: set[str] | None = None
        self.changed = False  # changed since the engine last reported it

    def add_viewer(self, hashed: int) -> None:
        """Count one viewer hash towards reach."""
        reach = self.reach
        if reach is None:
            reach = self.reach = Reach()
        reach.add(hashed)

    def add_influencer(self, influencer_id: str) -> None:
        """Note an influencer with a post in this set."""
        if self.influencers is None:
            self.influencers = set()
        self.influencers.add(influencer_id)

    def merge(self, other: Aggregate) -> None:
        """Fold another aggregate of disjoint events into this one."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        if other.reach is not None:
            if self.reach is None:
                self.reach = Reach()
            self.reach.merge(other.reach)
        if other.influencers:
            if self.influencers is None:
                self.influencers = set()
            self.influencers |= other.influencers

    def __eq__(self, other: object) -> bool:
        """Equal when every part is equal (an empty reach or set equals none)."""
        if not isinstance(other, Aggregate):
            return NotImplemented
        return (
            self.counts == other.counts
            and (self.reach or Reach()) == (other.reach or Reach())
            and (self.influencers or set()) == (other.influencers or set())
        )

    __hash__ = None  # type: ignore[assignment]
