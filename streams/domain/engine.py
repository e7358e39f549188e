"""The KPI engine: applies validated events to per-campaign state, by the rules of contract 1-3.

One :class:`Engine` holds the campaigns of one partition (streaming) or of a whole file
(replay); both run this same code, which is why they agree. The engine never does I/O: it
returns what happened to each event and, on demand, the KPI sets changed since the last ask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from streams.domain.aggregate import (
    ACTION_INDEX,
    CLICKS_BOT,
    CLICKS_REPEAT,
    CLICKS_VALID,
    CRITERION_INDEX,
    DUPLICATES,
    IMPRESSIONS,
    LATE,
    ORDERS_CODE,
    ORDERS_LINK,
    ORDERS_OUT_OF_WINDOW,
    ORDERS_UNATTRIBUTED,
    POSTS,
    POTENTIAL_REACH,
    REVENUE,
    REVIEWS,
    SCORE_COUNT,
    SCORE_SUM,
    SPEND,
    VIEWS,
    Aggregate,
)
from streams.domain.attribution import attribute
from streams.domain.errors import InvalidRecord
from streams.domain.events import (
    CAMPAIGNS,
    LOGICAL_TOPICS,
    AnyEvent,
    CampaignDefined,
    Click,
    ContentReview,
    Interaction,
    Order,
    PostPublished,
)
from streams.domain.kpis import kpi_values
from streams.domain.reach import viewer_hash
from streams.domain.rules import BOT_MARKERS, DAY_US, REPEAT_CLICK_US, Rules
from streams.domain.windows import ALL, CAMPAIGN, INFLUENCER, POST, US_PER_S, WINDOW_SIZES_S

COUNTED: Final = "counted"
DUPLICATE: Final = "duplicate"
LATE_OUTCOME: Final = "late"

# (scope, scope_id, window, window start in epoch seconds or None for `all`)
SetKey = tuple[str, str, str, int | None]

_DAY_S: Final = WINDOW_SIZES_S["1d"]
_HOUR_S: Final = WINDOW_SIZES_S["1h"]
_MINUTE_S: Final = WINDOW_SIZES_S["1m"]


@dataclass(frozen=True, slots=True)
class KpiSet:
    """One KPI set as the outputs publish it (contract 5.2, without ``updated_at``)."""

    campaign_id: str
    scope: str
    scope_id: str
    window: str
    window_start: int | None
    window_end: int | None
    kpis: dict[str, object]

    @property
    def key(self) -> str:
        """``<campaign_id>|<scope>|<scope_id>|<window>|<start or all>``."""
        start = ALL if self.window_start is None else str(self.window_start)
        return f"{self.campaign_id}|{self.scope}|{self.scope_id}|{self.window}|{start}"

    def to_value(self, updated_at_ms: int) -> dict[str, object]:
        """The KPI topic's record value (contract 5.2), also the replay's output item."""
        return {
            "schema_version": 1,
            "campaign_id": self.campaign_id,
            "scope": self.scope,
            "scope_id": self.scope_id,
            "window": self.window,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "kpis": self.kpis,
            "updated_at": updated_at_ms,
        }


@dataclass(frozen=True, slots=True)
class ReviewInForce:
    """What a review in force contributes."""

    occurred_at_us: int
    influencer_id: str
    scores: tuple[tuple[str, int], ...]


@dataclass(slots=True)
class Targets:
    """The aggregates one event feeds, grouped by what differs between them."""

    alls: list[Aggregate]  # window `all` of each scope the event names
    windowed: list[Aggregate]  # `1d` and `1h` windows (which, like `all`, carry reach)
    minute: Aggregate | None  # campaign `1m` (no reach)
    campaign: list[Aggregate]  # campaign scope, every window (for influencers_active)

    def counted(self) -> list[Aggregate]:
        """Every aggregate fed."""
        everything = self.alls + self.windowed
        if self.minute is not None:
            everything.append(self.minute)
        return everything

    def with_reach(self) -> list[Aggregate]:
        """The aggregates that count distinct viewers."""
        return self.alls + self.windowed


class TopicLedger:
    """Duplicate and lateness bookkeeping of one (campaign, topic)."""

    __slots__ = ("chunks", "horizon_us", "max_us", "pending", "prune_at", "seen")

    def __init__(self, horizon_us: int | None, journaled: bool = False) -> None:
        """``horizon_us`` None keeps every event id for ever."""
        self.horizon_us = horizon_us
        self.max_us: int | None = None
        self.seen: dict[str, int] = {}
        self.prune_at = 1024
        # Registrations not yet journaled: (event_id, occurred_at_us, post or order id).
        self.pending: list[tuple[str, int, str | None]] | None = [] if journaled else None
        # Journaled chunks still within the horizon: flush number -> greatest occurred_at.
        self.chunks: dict[int, int] = {}

    def is_duplicate(self, event_id: str) -> bool:
        """A counted copy exists (and, on bounded topics, is within the horizon)."""
        previous = self.seen.get(event_id)
        if previous is None:
            return False
        if self.horizon_us is None or self.max_us is None:
            return True
        return previous >= self.max_us - self.horizon_us

    def is_late(self, occurred_at_us: int, grace_us: int) -> bool:
        """More than the grace period older than the greatest time counted so far."""
        return self.max_us is not None and self.max_us - occurred_at_us > grace_us

    def register(self, event_id: str, occurred_at_us: int, entity_id: str | None = None) -> None:
        """Remember a counted event (and the post or order id it counts once)."""
        self.seen[event_id] = occurred_at_us
        if self.pending is not None:
            self.pending.append((event_id, occurred_at_us, entity_id))
        if self.max_us is None or occurred_at_us > self.max_us:
            self.max_us = occurred_at_us
        if self.horizon_us is not None and len(self.seen) >= self.prune_at:
            self._prune()

    def _prune(self) -> None:
        # Ids older than the horizon can never make a duplicate again: the max only grows.
        assert self.horizon_us is not None
        assert self.max_us is not None
        oldest = self.max_us - self.horizon_us
        self.seen = {eid: t for eid, t in self.seen.items() if t >= oldest}
        self.prune_at = max(1024, 2 * len(self.seen))


class CampaignState:
    """Everything the engine knows about one campaign."""

    __slots__ = (
        "campaign_id", "changed_reviews", "definition", "definition_changed", "dirty",
        "journaled", "ledgers", "order_ids", "pending_clicks", "post_ids", "reviews", "sets",
        "valid_clicks",
    )

    def __init__(self, campaign_id: str, rules: Rules, journaled: bool = False) -> None:
        """Start with no definition and no events; ``journaled`` keeps what to persist."""
        self.campaign_id = campaign_id
        self.journaled = journaled
        self.definition: CampaignDefined | None = None
        self.ledgers = {
            topic: TopicLedger(rules.horizon_us(topic), journaled) for topic in LOGICAL_TOPICS
        }
        self.post_ids: set[str] = set()
        self.order_ids: set[str] = set()
        # (visitor_id, link_id) -> occurred_at of the valid clicks, for the repeat rule.
        self.valid_clicks: dict[tuple[str, str], list[int]] = {}
        self.reviews: dict[tuple[str, str], ReviewInForce] = {}
        self.sets: dict[SetKey, Aggregate] = {}
        # Keys of the aggregates changed since the last take (each aggregate's own flag
        # keeps a key from being listed twice without hashing it again).
        self.dirty: list[SetKey] = []
        # What changed since the state was last journaled (see streams.domain.journal).
        self.definition_changed = False
        self.pending_clicks: list[tuple[str, str, int]] = []
        self.changed_reviews: set[tuple[str, str]] = set()

    def touch(self, key: SetKey) -> Aggregate:
        """The aggregate of a KPI set, created on first use, marked changed."""
        agg = self.sets.get(key)
        if agg is None:
            agg = self.sets[key] = Aggregate()
        if not agg.changed:
            agg.changed = True
            self.dirty.append(key)
        return agg

    def campaign_all(self) -> Aggregate:
        """The campaign-scope, window-`all` aggregate."""
        return self.touch((CAMPAIGN, self.campaign_id, ALL, None))

    def targets(
        self, occurred_at_us: int, influencer_id: str | None, post_id: str | None, late: bool
    ) -> Targets:
        """The aggregates an event feeds; a late event feeds the `all` windows only."""
        cid = self.campaign_id
        touch = self.touch
        campaign_all = touch((CAMPAIGN, cid, ALL, None))
        targets = Targets([campaign_all], [], None, [campaign_all])
        seconds = occurred_at_us // US_PER_S
        day = seconds - seconds % _DAY_S
        hour = seconds - seconds % _HOUR_S
        if not late:
            campaign_windows = (
                touch((CAMPAIGN, cid, "1d", day)),
                touch((CAMPAIGN, cid, "1h", hour)),
            )
            targets.windowed.extend(campaign_windows)
            targets.minute = touch((CAMPAIGN, cid, "1m", seconds - seconds % _MINUTE_S))
            targets.campaign.extend((*campaign_windows, targets.minute))
        if influencer_id is not None:
            targets.alls.append(touch((INFLUENCER, influencer_id, ALL, None)))
            if not late:
                targets.windowed.append(touch((INFLUENCER, influencer_id, "1d", day)))
                targets.windowed.append(touch((INFLUENCER, influencer_id, "1h", hour)))
        if post_id is not None:
            targets.alls.append(touch((POST, post_id, ALL, None)))
        return targets

    def kpi_set(self, key: SetKey) -> KpiSet:
        """The published form of one KPI set."""
        scope, scope_id, window, start = key
        values = kpi_values(self.sets[key], scope, window, self.definition)
        end = None if start is None else start + WINDOW_SIZES_S[window]
        return KpiSet(self.campaign_id, scope, scope_id, window, start, end, values)


class Engine:
    """Applies validated events, in processing order, to the state of many campaigns."""

    def __init__(self, rules: Rules | None = None, journaled: bool = False) -> None:
        """An empty engine following ``rules`` (the contract's defaults when omitted).

        A ``journaled`` engine also keeps what changed since its state was last persisted
        (see :mod:`streams.domain.journal`); the batch replay does without.
        """
        self.rules = rules or Rules()
        self.journaled = journaled
        self.campaigns: dict[str, CampaignState] = {}

    def state(self, campaign_id: str) -> CampaignState:
        """The state of a campaign, created empty on first use."""
        state = self.campaigns.get(campaign_id)
        if state is None:
            state = self.campaigns[campaign_id] = CampaignState(
                campaign_id, self.rules, self.journaled
            )
        return state

    def apply(self, topic: str, event: AnyEvent) -> str:
        """Apply one event that arrived on a logical topic; return its outcome.

        Raises :class:`InvalidRecord` (``currency_mismatch``) for a record the campaign's
        definition rejects. Returns ``counted``, ``duplicate`` or ``late``.
        """
        state = self.state(event.campaign_id)
        if isinstance(event, CampaignDefined):
            return self._define(state, event)
        if isinstance(event, Order):
            definition = state.definition
            if definition is not None and event.currency != definition.currency:
                raise InvalidRecord(
                    "currency_mismatch",
                    f"order currency {event.currency} differs from the campaign's "
                    f"{definition.currency}",
                )
        ledger = state.ledgers[topic]
        occurred_at_us = event.occurred_at_us
        if (
            ledger.is_duplicate(event.event_id)
            or (isinstance(event, PostPublished) and event.post_id in state.post_ids)
            or (isinstance(event, Order) and event.order_id in state.order_ids)
        ):
            state.campaign_all().counts[DUPLICATES] += 1
            return DUPLICATE
        late = ledger.is_late(occurred_at_us, self.rules.grace_us[topic])
        if isinstance(event, PostPublished):
            ledger.register(event.event_id, occurred_at_us, event.post_id)
        elif isinstance(event, Order):
            ledger.register(event.event_id, occurred_at_us, event.order_id)
        else:
            ledger.register(event.event_id, occurred_at_us)
        if isinstance(event, Interaction):
            self._interaction(state, event, late)
        elif isinstance(event, Click):
            self._click(state, event, late)
        elif isinstance(event, PostPublished):
            state.post_ids.add(event.post_id)
            self._post(state, event, late)
        elif isinstance(event, Order):
            state.order_ids.add(event.order_id)
            self._order(state, event, late)
        else:
            self._review(state, event)
        if late:
            state.campaign_all().counts[LATE] += 1
            return LATE_OUTCOME
        return COUNTED

    def take_changed(self) -> Iterator[tuple[CampaignState, SetKey]]:
        """The keys of every KPI set changed since the previous take, once each, in order."""
        for state in self.campaigns.values():
            dirty, state.dirty = state.dirty, []
            sets = state.sets
            for key in dirty:
                sets[key].changed = False
            for key in sorted(dirty, key=sort_key):
                yield state, key

    def changed_sets(self) -> Iterator[KpiSet]:
        """Every KPI set changed since the previous call, once each, with absolute values."""
        for state, key in self.take_changed():
            yield state.kpi_set(key)

    def all_sets(self) -> Iterator[KpiSet]:
        """Every KPI set, changed or not."""
        for state in self.campaigns.values():
            for key in sorted(state.sets, key=sort_key):
                yield state.kpi_set(key)

    # -- one method per event type --------------------------------------------------------

    def _define(self, state: CampaignState, event: CampaignDefined) -> str:
        definition = state.definition
        if definition is not None and event.currency != definition.currency:
            raise InvalidRecord(
                "currency_mismatch",
                f"campaign currency {event.currency} differs from the definition in force "
                f"({definition.currency}); a campaign's currency never changes",
            )
        ledger = state.ledgers[CAMPAIGNS]
        if ledger.is_duplicate(event.event_id):
            state.campaign_all().counts[DUPLICATES] += 1
            return DUPLICATE
        ledger.register(event.event_id, event.occurred_at_us)
        if definition is None or event.occurred_at_us >= definition.occurred_at_us:
            state.definition = event
            state.definition_changed = True
        state.campaign_all()  # objective, budget and targets live in this set
        return COUNTED

    def _interaction(self, state: CampaignState, event: Interaction, late: bool) -> None:
        targets = state.targets(event.occurred_at_us, event.influencer_id, event.post_id, late)
        index = ACTION_INDEX[event.action]
        count = event.count
        for agg in targets.counted():
            agg.counts[index] += count
        if event.viewer_id is not None and (index in (IMPRESSIONS, VIEWS)):
            hashed = viewer_hash(event.viewer_id)
            for agg in targets.with_reach():
                agg.add_viewer(hashed)

    def _click(self, state: CampaignState, event: Click, late: bool) -> None:
        index = self._classify_click(state, event)
        targets = state.targets(event.occurred_at_us, event.influencer_id, event.post_id, late)
        for agg in targets.counted():
            agg.counts[index] += 1

    @staticmethod
    def _classify_click(state: CampaignState, event: Click) -> int:
        if event.user_agent is not None:
            agent = event.user_agent.lower()
            if any(marker in agent for marker in BOT_MARKERS):
                return CLICKS_BOT
        if event.visitor_id is None:
            return CLICKS_VALID
        t = event.occurred_at_us
        times = state.valid_clicks.setdefault((event.visitor_id, event.link_id), [])
        if any(t - REPEAT_CLICK_US < earlier <= t for earlier in times):
            return CLICKS_REPEAT
        times.append(t)
        if state.journaled:
            state.pending_clicks.append((event.visitor_id, event.link_id, t))
        return CLICKS_VALID

    def _post(self, state: CampaignState, event: PostPublished, late: bool) -> None:
        targets = state.targets(event.occurred_at_us, event.influencer_id, event.post_id, late)
        for agg in targets.counted():
            agg.counts[POSTS] += 1
        for agg in targets.alls:
            agg.counts[POTENTIAL_REACH] += event.followers
            agg.counts[SPEND] += event.cost_minor
        for agg in targets.campaign:
            agg.add_influencer(event.influencer_id)

    def _order(self, state: CampaignState, event: Order, late: bool) -> None:
        definition = state.definition
        if definition is not None and event.occurred_at_us > (
            definition.ends_at_us + definition.attribution_window_days * DAY_US
        ):
            state.campaign_all().counts[ORDERS_OUT_OF_WINDOW] += 1
            return
        influencer_id, channel = attribute(definition, event)
        index = _CHANNEL_INDEX[channel]
        for agg in state.targets(event.occurred_at_us, influencer_id, None, late).counted():
            agg.counts[index] += 1
            agg.counts[REVENUE] += event.amount_minor

    def _review(self, state: CampaignState, event: ContentReview) -> None:
        pair = (event.post_id, event.reviewer_id)
        current = state.reviews.get(pair)
        if current is not None and current.occurred_at_us > event.occurred_at_us:
            return  # an older review: counted, but not in force
        if current is not None:
            self._review_weight(state, pair[0], current, -1)
        review = ReviewInForce(event.occurred_at_us, event.influencer_id, event.scores)
        state.reviews[pair] = review
        if state.journaled:
            state.changed_reviews.add(pair)
        self._review_weight(state, pair[0], review, 1)

    @staticmethod
    def _review_weight(
        state: CampaignState, post_id: str, review: ReviewInForce, sign: int
    ) -> None:
        for key in (
            (CAMPAIGN, state.campaign_id, ALL, None),
            (INFLUENCER, review.influencer_id, ALL, None),
            (POST, post_id, ALL, None),
        ):
            counts = state.touch(key).counts
            counts[REVIEWS] += sign
            for criterion, score in review.scores:
                i = CRITERION_INDEX[criterion]
                counts[SCORE_SUM + i] += sign * score
                counts[SCORE_COUNT + i] += sign


_SCOPE_ORDER: Final = {CAMPAIGN: 0, INFLUENCER: 1, POST: 2}


def sort_key(key: SetKey) -> tuple[int, str, str, int]:
    """Campaign, then influencer, then post sets; `all` before the windows by start."""
    scope, scope_id, window, start = key
    return (_SCOPE_ORDER[scope], scope_id, window, -1 if start is None else start)

_CHANNEL_INDEX: Final = {
    "code": ORDERS_CODE,
    "link": ORDERS_LINK,
    "unattributed": ORDERS_UNATTRIBUTED,
}
