"""The KPI engine: applies validated events to per-campaign state, by the rules of contract 1-3.

One :class:`Engine` holds the campaigns of one partition (streaming) or of a whole file
(replay); both run this same code, which is why they agree. The engine never does I/O: it
returns what happened to each event, and records what changed in :class:`Changes` (the KPI
sets the sinks must write, and the state a journal must persist). It holds no persistence
bookkeeping; :meth:`Engine.restore` is the one way state comes back.
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Final

from streams.domain.alerts import (
    FEED_SILENT,
    RULES,
    TRENDED,
    AlertRecord,
    AlertRules,
    CampaignView,
    evaluate,
    follow,
)
from streams.domain.archive import BLOCK_S, BlockKey, block_of, pack, unpack
from streams.domain.attribution import attribute, roster_tiers
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.events import (
    AnyEvent,
    Attributable,
    CampaignDefined,
    Click,
    ContentReview,
    Conversion,
    Interaction,
    Order,
    OrderRefund,
    PostMetrics,
    PostPublished,
    SurveyResponse,
)
from streams.domain.kpis import (
    SCORE_COUNT,
    SCORE_SUM,
    SLOT,
    Aggregate,
    LiftCounts,
    brand_lift,
    kpi_values,
)
from streams.domain.reach import Reach
from streams.domain.rules import BOT_MARKERS, DAY_US, REPEAT_CLICK_US, Rules
from streams.domain.vocabulary import (
    REACH_ACTIONS,
    SNAPSHOT_METRICS,
    WINDOW_SIZES_S,
    WINDOW_TOPICS,
    Channel,
    Group,
    Outcome,
    Scope,
    Source,
    Topic,
    Window,
)
from streams.domain.windows import US_PER_S

# (scope, scope_id, window, window start in epoch seconds or None for `all`)
SetKey = tuple[Scope, str, Window, int | None]

_DAY_S: Final = WINDOW_SIZES_S[Window.DAY]
_HOUR_S: Final = WINDOW_SIZES_S[Window.HOUR]
_MINUTE_S: Final = WINDOW_SIZES_S[Window.MINUTE]

_POSTS: Final = SLOT["posts"]
_POTENTIAL_REACH: Final = SLOT["potential_reach"]
_SPEND: Final = SLOT["spend_minor"]
_ACTION_SLOT: Final[dict[str, int]] = {
    "impression": SLOT["impressions"],
    "view": SLOT["views"],
    "like": SLOT["likes"],
    "comment": SLOT["comments"],
    "share": SLOT["shares"],
    "save": SLOT["saves"],
    "reply": SLOT["replies"],
}
_METRIC_SLOT: Final[dict[str, int]] = {
    metric: _ACTION_SLOT[action] for metric, action in SNAPSHOT_METRICS.items() if action
}
_REACH_SUM: Final = SLOT["reach_sum"]
_CLICKS_VALID: Final = SLOT["clicks_valid"]
_CLICKS_BOT: Final = SLOT["clicks_bot"]
_CLICKS_REPEAT: Final = SLOT["clicks_repeat"]
_ORDER_SLOT: Final[dict[Channel, int]] = {
    Channel.CODE: SLOT["orders_code"],
    Channel.LINK: SLOT["orders_link"],
    Channel.UNATTRIBUTED: SLOT["orders_unattributed"],
}
_REVENUE: Final = SLOT["revenue_minor"]
_ORDERS_OUT_OF_WINDOW: Final = SLOT["orders_out_of_window"]
_REFUNDS: Final = SLOT["refunds"]
_REFUNDED: Final = SLOT["refunded_minor"]
_REFUNDS_UNMATCHED: Final = SLOT["refunds_unmatched"]
_CONVERSION_SLOT: Final[dict[Channel, int]] = {
    Channel.CODE: SLOT["conversions_code"],
    Channel.LINK: SLOT["conversions_link"],
    Channel.UNATTRIBUTED: SLOT["conversions_unattributed"],
}
_CONVERSION_VALUE: Final = SLOT["conversion_value_minor"]
_CONVERSIONS_OUT_OF_WINDOW: Final = SLOT["conversions_out_of_window"]
_REVIEWS: Final = SLOT["reviews"]
_SURVEY_RESPONSES: Final = SLOT["survey_responses"]
_DUPLICATES: Final = SLOT["duplicate_events"]
_LATE: Final = SLOT["late_events"]
_STALE: Final = SLOT["stale_snapshots"]
_TREND_SLOTS: Final[dict[str, tuple[int, ...]]] = {
    "impressions": (SLOT["impressions"],),
    "engagements": tuple(SLOT[n] for n in ("likes", "comments", "shares", "saves", "replies")),
    "clicks_valid": (SLOT["clicks_valid"],),
}
_HOURLY_KEPT: Final = 48  # hours of the trended counter an alert rule may look back on


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
        return kpi_key(
            self.campaign_id, (self.scope, self.scope_id, self.window, self.window_start)
        )

    def to_value(self, updated_at_ms: int) -> dict[str, object]:
        """The KPI topic's record value (contract 5.2), also the replay's output item."""
        return {
            "schema_version": 2,
            "campaign_id": self.campaign_id,
            "scope": self.scope,
            "scope_id": self.scope_id,
            "window": self.window,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "kpis": self.kpis,
            "updated_at": updated_at_ms,
        }


def kpi_key(campaign_id: str, key: tuple[str, str, str, int | None]) -> str:
    """The KPI topic's key of a KPI set: ``<campaign_id>|<scope>|<scope_id>|<window>|<start>``.

    ``key`` is (scope, scope_id, window, start), a :data:`SetKey` or a KPI set's fields;
    ``start`` None is written ``all``.
    """
    scope, scope_id, window, start = key
    return f"{campaign_id}|{scope}|{scope_id}|{window}|{Window.ALL if start is None else start}"


# -- state --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publication:
    """What a post's counted ``post_published`` says about it (the post-scope attributes)."""

    influencer_id: str
    platform: str
    format: str
    published_at_s: int


@dataclass(slots=True)
class PostState:
    """Everything known about one post of a campaign."""

    published: Publication | None = None
    # Its post_published was counted (a post_id counts once). Usually with ``published``;
    # alone for a post restored from state version 1, which kept no attributes.
    counted: bool = False
    source: Source | None = None
    snapshot_at_us: int | None = None  # occurred_at of the snapshot in force
    metrics: dict[str, int] = field(default_factory=dict)  # its lifetime values in force
    # The post-scope reach as last added into reach_sum (kept so a change adds its delta).
    reach_counted: int = 0


@dataclass(slots=True)
class OrderState:
    """A counted order that refunds can match (contract 1.6.1)."""

    amount_minor: int
    influencer_id: str | None
    refunded_minor: int = 0


@dataclass(frozen=True, slots=True)
class ReviewInForce:
    """What a review in force contributes."""

    occurred_at_us: int
    influencer_id: str
    scores: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class AnswerInForce:
    """A respondent's answer in force to one question."""

    occurred_at_us: int
    group: str
    positive: bool


class TopicLedger:
    """Duplicate and lateness bookkeeping of one (campaign, topic)."""

    __slots__ = ("horizon_us", "max_us", "prune_at", "seen")

    def __init__(self, horizon_us: int | None) -> None:
        """``horizon_us`` None keeps every event id for ever."""
        self.horizon_us = horizon_us
        self.max_us: int | None = None
        self.seen: dict[str, int] = {}
        self.prune_at = 1024

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

    def register(self, event_id: str, occurred_at_us: int) -> None:
        """Remember a counted event."""
        self.seen[event_id] = occurred_at_us
        if self.max_us is None or occurred_at_us > self.max_us:
            self.max_us = occurred_at_us
        if self.horizon_us is not None and len(self.seen) >= self.prune_at:
            self.prune()

    def prune(self) -> None:
        """Forget ids older than the horizon: they can never make a duplicate again."""
        if self.horizon_us is None or self.max_us is None:
            return
        oldest = self.max_us - self.horizon_us
        self.seen = {eid: t for eid, t in self.seen.items() if t >= oldest}
        self.prune_at = max(1024, 2 * len(self.seen))


# A registration: (event id, occurred_at, the refund or conversion id it counts once); a
# journal rewriting a whole state names the ids counted once with no event (None, None, id).
Registration = tuple[str | None, int | None, str | None]


@dataclass(slots=True)
class Changes:
    """What changed since the last take: the engine's only record of change.

    ``sets`` are the KPI sets to publish again; the rest is what a journal persists. Keys
    name state by campaign id and the ids of the contract (person ids already pseudonymised).
    """

    sets: dict[Aggregate, CampaignState] = field(default_factory=dict)
    registered: dict[tuple[str, Topic], list[Registration]] = field(default_factory=dict)
    definitions: set[str] = field(default_factory=set)
    maxima: set[str] = field(default_factory=set)
    posts: set[tuple[str, str]] = field(default_factory=set)
    orders: set[tuple[str, str]] = field(default_factory=set)
    valid_clicks: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    reviews: set[tuple[str, str, str]] = field(default_factory=set)
    answers: set[tuple[str, str, str]] = field(default_factory=set)
    forgotten: dict[str, CampaignState] = field(default_factory=dict)  # erased campaigns
    # Final windows packed into blocks (their own cells go), the blocks that changed (or
    # were dropped once nothing can change them and their retention has passed).
    packed: dict[Aggregate, CampaignState] = field(default_factory=dict)
    blocks: set[tuple[str, BlockKey]] = field(default_factory=set)
    links: set[tuple[str, str]] = field(default_factory=set)  # per-link click counts
    dropped: set[str] = field(default_factory=set)  # campaigns that dropped blocks
    alerts: list[AlertRecord] = field(default_factory=list)  # alert records that changed
    hourly: set[str] = field(default_factory=set)  # campaigns whose hourly course moved

    def register(self, cid: str, topic: Topic, entry: Registration) -> None:
        """Note a counted event's registration."""
        self.registered.setdefault((cid, topic), []).append(entry)

    def take(self) -> Changes:
        """Move everything recorded into a new record, leaving this one empty."""
        parts = fields(self)
        taken = Changes(**{part.name: getattr(self, part.name) for part in parts})
        for part in parts:
            factory: Any = part.default_factory
            setattr(self, part.name, factory())
        return taken

    def drop(self, cid: str) -> None:
        """Forget what was recorded about a campaign (it is being erased)."""
        self.sets = {agg: s for agg, s in self.sets.items() if s.campaign_id != cid}
        self.packed = {a: s for a, s in self.packed.items() if s.campaign_id != cid}
        self.blocks = {b for b in self.blocks if b[0] != cid}
        self.registered = {k: v for k, v in self.registered.items() if k[0] != cid}
        self.valid_clicks.pop(cid, None)
        self.definitions.discard(cid)
        self.maxima.discard(cid)
        for keys in (self.posts, self.orders, self.reviews, self.answers, self.links):
            for key in [k for k in keys if k[0] == cid]:
                keys.discard(key)
        self.alerts = [record for record in self.alerts if record.campaign_id != cid]
        self.hourly.discard(cid)
        self.dropped.discard(cid)


class CampaignState:
    """Everything the engine knows about one campaign."""

    __slots__ = (
        "alerts", "answers", "archive", "block_ends", "campaign_id", "changes",
        "clicks_prune_at", "conversion_ids", "definition", "dropped", "hourly", "ledgers",
        "lift", "links", "open_windows", "orders", "packed_until", "posts", "refund_ids",
        "reviews", "sets", "tiers", "valid_clicks",
    )

    def __init__(self, campaign_id: str, rules: Rules, changes: Changes) -> None:
        """Start with no definition and no events."""
        self.campaign_id = campaign_id
        self.changes = changes
        self.definition: CampaignDefined | None = None
        self.tiers: dict[str, str] = {}  # from the definition in force
        self.ledgers = {topic: TopicLedger(rules.horizon_us(topic)) for topic in Topic}
        self.posts: dict[str, PostState] = {}
        # Order id -> what a refund can match; None: registered, counted out of window.
        self.orders: dict[str, OrderState | None] = {}
        self.refund_ids: set[str] = set()
        self.conversion_ids: set[str] = set()
        # (visitor pseudonym, link_id) -> occurred_at of the valid clicks (repeat rule).
        self.valid_clicks: dict[tuple[str, str], list[int]] = {}
        # (post_id, reviewer pseudonym) -> the review in force.
        self.reviews: dict[tuple[str, str], ReviewInForce] = {}
        # (respondent pseudonym, question) -> the answer in force; per question the counts.
        self.answers: dict[tuple[str, str], AnswerInForce] = {}
        self.lift: dict[str, LiftCounts] = {}
        self.sets: dict[SetKey, Aggregate] = {}
        # Windowed sets not yet packed, by end (a heap of (end_us, key)); final windows packed
        # into blocks (contract 3: reduced to their values), and the blocks by end.
        self.open_windows: list[tuple[int, SetKey]] = []
        self.archive: dict[BlockKey, bytes] = {}
        self.block_ends: list[tuple[int, BlockKey]] = []
        # Per window kind, no packed window ends after this: a window ending later is new,
        # and creating it needs no look into the blocks.
        self.packed_until: dict[Window, int] = {}
        # Blocks dropped past their retention (their windows stay on the KPI topic): per
        # series (scope, scope_id, window), the first and the last block start dropped, so
        # that an erasure can delete those windows' KPI-topic keys too.
        self.dropped: dict[tuple[Scope, str, Window], list[int]] = {}
        self.clicks_prune_at = 1024
        # For the alerts: clicks and bot clicks per link, the hourly course of the trended
        # counter (hour start, us -> value), and the alerts with their state.
        self.links: dict[str, list[int]] = {}
        self.hourly: dict[int, int] = {}
        self.alerts: dict[tuple[str, str, str], AlertRecord] = {}

    def touch(self, key: SetKey) -> Aggregate:
        """The aggregate of a KPI set, created on first use, recorded as changed."""
        agg = self.sets.get(key)
        if agg is None:
            if (
                key[3] is None
                or _end_us(key) > self.packed_until.get(key[2], _NEVER_US)
                or (agg := self._unpack(key)) is None
            ):
                agg = Aggregate(key)
            self.sets[key] = agg
            if key[3] is not None:
                heapq.heappush(self.open_windows, (_end_us(key), key))
        changed = self.changes.sets
        if agg not in changed:
            changed[agg] = self
        return agg

    def _unpack(self, key: SetKey) -> Aggregate | None:
        """A packed window a late-coming record of a sparse topic lands in, taken back out."""
        block = block_of(key)
        data = self.archive.get(block)
        if not data:
            return None
        for agg, begin, end in unpack(block, data):
            if agg.key == key:
                self.archive[block] = data[:begin] + data[end:]
                self.changes.blocks.add((self.campaign_id, block))
                return agg
        return None

    def pack(self, agg: Aggregate) -> None:
        """Move a final window into its block."""
        block = block_of(agg.key)
        data = self.archive.get(block)
        if data is None:
            heapq.heappush(self.block_ends, (_block_end_us(block), block))
        self.archive[block] = (data or b"") + pack(agg)
        window, end_us = agg.key[2], _end_us(agg.key)
        if end_us > self.packed_until.get(window, _NEVER_US):
            self.packed_until[window] = end_us
        del self.sets[agg.key]
        self.changes.packed[agg] = self
        self.changes.blocks.add((self.campaign_id, block))

    def packed_sets(self) -> Iterator[Aggregate]:
        """The packed windows, unpacked (for a full rewrite of the outputs)."""
        for block, data in self.archive.items():
            for agg, _, _ in unpack(block, data):
                yield agg

    def set_keys(self) -> list[SetKey]:
        """The key of every KPI set held, packed windows included (what erasing deletes)."""
        return [*self.sets, *(agg.key for agg in self.packed_sets())]

    def drop_block(self, block: BlockKey) -> None:
        """Give up a block of packed windows past its retention; remember its span."""
        del self.archive[block]
        self.changes.blocks.add((self.campaign_id, block))
        scope, scope_id, window, start = block
        span = self.dropped.setdefault((scope, scope_id, window), [start, start])
        span[0], span[1] = min(span[0], start), max(span[1], start)
        self.changes.dropped.add(self.campaign_id)

    def dropped_keys(self, held: Container[SetKey]) -> Iterator[SetKey]:
        """Every window of the dropped blocks' spans not in ``held``, had it records or not."""
        for (scope, scope_id, window), (first, last) in self.dropped.items():
            for start in range(first, last + BLOCK_S[window], WINDOW_SIZES_S[window]):
                key = (scope, scope_id, window, start)
                if key not in held:
                    yield key

    def final_before_us(self, topic: Topic, grace_us: int) -> int | None:
        """A window ending at or before this holds no more of this topic's records."""
        max_us = self.ledgers[topic].max_us
        return None if max_us is None else max_us - grace_us

    def campaign_all(self) -> Aggregate:
        """The campaign-scope, window-`all` aggregate."""
        return self.touch((Scope.CAMPAIGN, self.campaign_id, Window.ALL, None))

    def influencer_all(self, influencer_id: str) -> Aggregate:
        """An influencer-scope, window-`all` aggregate."""
        return self.touch((Scope.INFLUENCER, influencer_id, Window.ALL, None))

    def post(self, post_id: str) -> PostState:
        """The state of a post, created empty on first use."""
        post = self.posts.get(post_id)
        if post is None:
            post = self.posts[post_id] = PostState()
        return post

    def targets(
        self, occurred_at_us: int, influencer_id: str | None, post_id: str | None, late: bool
    ) -> Targets:
        """The aggregates an event feeds; a late event feeds the `all` windows only."""
        cid = self.campaign_id
        touch = self.touch
        campaign_all = touch((Scope.CAMPAIGN, cid, Window.ALL, None))
        targets = Targets([campaign_all], [], None, [campaign_all])
        seconds = occurred_at_us // US_PER_S
        day = seconds - seconds % _DAY_S
        hour = seconds - seconds % _HOUR_S
        if not late:
            campaign_windows = (
                touch((Scope.CAMPAIGN, cid, Window.DAY, day)),
                touch((Scope.CAMPAIGN, cid, Window.HOUR, hour)),
            )
            targets.windowed.extend(campaign_windows)
            targets.minute = touch(
                (Scope.CAMPAIGN, cid, Window.MINUTE, seconds - seconds % _MINUTE_S)
            )
            targets.campaign.extend((*campaign_windows, targets.minute))
        if influencer_id is not None:
            targets.alls.append(touch((Scope.INFLUENCER, influencer_id, Window.ALL, None)))
            if not late:
                targets.windowed.append(touch((Scope.INFLUENCER, influencer_id, Window.DAY, day)))
                targets.windowed.append(
                    touch((Scope.INFLUENCER, influencer_id, Window.HOUR, hour))
                )
        if post_id is not None:
            targets.alls.append(touch((Scope.POST, post_id, Window.ALL, None)))
        return targets

    def kpi_set(self, agg: Aggregate) -> KpiSet:
        """The published form of one KPI set."""
        scope, scope_id, window, start = agg.key
        attributes: dict[str, str | int] = {}
        lift = None
        if window is Window.ALL:
            if scope is Scope.POST:
                attributes = self._post_attributes(scope_id)
            elif scope is Scope.INFLUENCER:
                tier = self.tiers.get(scope_id)
                if tier is not None:
                    attributes = {"tier": tier}
            elif self.lift:
                lift = brand_lift(self.lift)
        values = kpi_values(agg, self.definition, attributes, lift)
        end = None if start is None else start + WINDOW_SIZES_S[window]
        return KpiSet(self.campaign_id, scope, scope_id, window, start, end, values)

    def _post_attributes(self, post_id: str) -> dict[str, str | int]:
        post = self.posts.get(post_id)
        if post is None:
            return {}
        attributes: dict[str, str | int] = {}
        if post.published is not None:
            attributes["influencer_id"] = post.published.influencer_id
            attributes["platform"] = post.published.platform
            attributes["format"] = post.published.format
            attributes["published_at"] = post.published.published_at_s
        if post.source is not None:
            attributes["metrics_source"] = str(post.source)
        return attributes


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


_SCOPE_ORDER: Final = {Scope.CAMPAIGN: 0, Scope.INFLUENCER: 1, Scope.POST: 2}
# The topics whose records fill windows densely: a window is packed once they have passed it.
DENSE_TOPICS: Final = (Topic.INTERACTIONS, Topic.CLICKS)


def sort_key(key: SetKey) -> tuple[int, str, str, int]:
    """Campaign, then influencer, then post sets; `all` before the windows by start."""
    scope, scope_id, window, start = key
    return (_SCOPE_ORDER[scope], scope_id, window, -1 if start is None else start)


# -- the engine ---------------------------------------------------------------------------


class Engine:
    """Applies validated events, in processing order, to the state of many campaigns."""

    def __init__(self, rules: Rules | None = None) -> None:
        """An empty engine following ``rules`` (the contract's defaults when omitted)."""
        self.rules = rules or Rules()
        self.campaigns: dict[str, CampaignState] = {}
        self.changes = Changes()
        # Posts whose post-scope reach may have moved since reach_sum last followed it.
        self._reach_moved: dict[tuple[str, str], None] = {}

    def state(self, campaign_id: str) -> CampaignState:
        """The state of a campaign, created empty on first use."""
        state = self.campaigns.get(campaign_id)
        if state is None:
            state = self.campaigns[campaign_id] = CampaignState(
                campaign_id, self.rules, self.changes
            )
        return state

    def apply(self, topic: Topic, event: AnyEvent) -> Outcome:
        """Apply one event that arrived on a logical topic; return its outcome.

        Raises :class:`InvalidRecord` for checks 8-10 of contract section 4, which need the
        campaign's state (currency, a post's source, a refund's order). Returns counted,
        duplicate or late.
        """
        state = self.state(event.campaign_id)
        if isinstance(event, CampaignDefined):
            return self._define(state, event)
        self._check_currency(state, event)
        ledger = state.ledgers[topic]
        if ledger.is_duplicate(event.event_id) or self._counts_an_id_again(state, event):
            state.campaign_all().counts[_DUPLICATES] += 1
            return Outcome.DUPLICATE
        self._check_source(state, event)
        order = self._refunded_order(state, event)
        occurred_at_us = event.occurred_at_us
        late = ledger.is_late(occurred_at_us, self.rules.grace_us[topic])
        previous_max = ledger.max_us
        ledger.register(event.event_id, occurred_at_us)
        entity = None
        if isinstance(event, OrderRefund):
            entity = event.refund_id
        elif isinstance(event, Conversion):
            entity = event.conversion_id
        self.changes.register(state.campaign_id, topic, (event.event_id, occurred_at_us, entity))
        if ledger.max_us != previous_max:
            self.changes.maxima.add(state.campaign_id)
        if isinstance(event, Interaction):
            self._interaction(state, event, late)
        elif isinstance(event, Click):
            self._click(state, event, late)
        elif isinstance(event, PostMetrics):
            self._snapshot(state, event, late)
        elif isinstance(event, PostPublished):
            self._post(state, event, late)
        elif isinstance(event, Order):
            self._order(state, event, late)
        elif isinstance(event, OrderRefund):
            self._refund(state, event, order, late)
        elif isinstance(event, Conversion):
            self._conversion(state, event, late)
        elif isinstance(event, ContentReview):
            self._review(state, event)
        else:
            self._answer(state, event)
        if late:
            state.campaign_all().counts[_LATE] += 1
            return Outcome.LATE
        return Outcome.COUNTED

    # -- outputs ----------------------------------------------------------------------------

    def take_changes(self) -> Changes:
        """Everything changed since the previous take (derived KPIs brought up to date).

        Windows that became final are reduced to their values, and dropped once their
        retention has passed (contract 3, bounded state): the KPI sets published before
        stay the same.
        """
        self._follow_reach()
        for cid in self.changes.maxima:
            state = self.campaigns.get(cid)
            if state is not None:
                self._finalize(state)
        return self.changes.take()

    def _finalize(self, state: CampaignState) -> None:
        rules = self.rules
        # Once no non-late record of the dense topics can land in a window, it is reduced to
        # its values: its reach (the interactions part) becomes a number, and it is packed.
        dense = [state.final_before_us(t, rules.grace_us[t]) for t in DENSE_TOPICS]
        known = [final for final in dense if final is not None]
        if known:
            packed_before = min(known)
            heap = state.open_windows
            while heap and heap[0][0] <= packed_before:
                end_us, key = heapq.heappop(heap)
                agg = state.sets.get(key)
                if agg is None:
                    continue  # packed already (a stale heap entry)
                if agg in self.changes.sets:  # changed in this very take: packed next time
                    heapq.heappush(heap, (end_us, key))
                    break
                if isinstance(agg.reach, Reach):
                    agg.reach = agg.reach.estimate()
                state.pack(agg)
        # A block no record can ever land in again — every topic that feeds windows has a
        # reference (a topic's first record may land anywhere) and the block lies past it —
        # is dropped once older than its retention: its values stay on the KPI topic.
        finals = [state.final_before_us(t, rules.grace_us[t]) for t in WINDOW_TOPICS]
        if all(final is not None for final in finals):
            final_us = min(f for f in finals if f is not None)
            ends = state.block_ends
            while ends and ends[0][0] + rules.final_retention_us[ends[0][1][2]] <= final_us:
                _, block = heapq.heappop(ends)
                if block in state.archive:
                    state.drop_block(block)
        self._prune_clicks(state)

    def _prune_clicks(self, state: CampaignState) -> None:
        """Forget valid clicks that can no longer make a click a repeat (contract 3)."""
        count = sum(len(times) for times in state.valid_clicks.values())
        if count < state.clicks_prune_at:
            return
        reference = state.final_before_us(Topic.CLICKS, self.rules.grace_us[Topic.CLICKS])
        if reference is not None:
            oldest = reference - REPEAT_CLICK_US
            kept: dict[tuple[str, str], list[int]] = {}
            for pair, times in state.valid_clicks.items():
                recent = [t for t in times if t > oldest]
                if recent:
                    kept[pair] = recent
            state.valid_clicks = kept
            count = sum(len(times) for times in kept.values())
        state.clicks_prune_at = max(1024, 2 * count)

    def kpi_sets(self, changes: Changes) -> list[KpiSet]:
        """The KPI sets a take changed, once each, by campaign then :func:`sort_key`."""
        by_campaign: dict[str, list[Aggregate]] = {}
        for agg, state in changes.sets.items():
            by_campaign.setdefault(state.campaign_id, []).append(agg)
        sets: list[KpiSet] = []
        for cid, aggs in by_campaign.items():
            state = self.campaigns[cid]
            aggs.sort(key=lambda agg: sort_key(agg.key))
            sets.extend(state.kpi_set(agg) for agg in aggs)
        return sets

    def all_sets(self) -> Iterator[KpiSet]:
        """Every KPI set held, changed or not, packed windows included."""
        self._follow_reach()
        for state in self.campaigns.values():
            aggs = [*state.sets.values(), *state.packed_sets()]
            for agg in sorted(aggs, key=lambda agg: sort_key(agg.key)):
                yield state.kpi_set(agg)

    def restore(self, campaigns: Iterable[CampaignState]) -> None:
        """Take over restored campaign states: the one way state enters an engine.

        Called once, on an empty engine, by whatever rebuilt the states (a journal).
        """
        if self.campaigns:
            raise RuntimeError("restore() needs an empty engine")
        for state in campaigns:
            state.changes = self.changes
            state.tiers = roster_tiers(state.definition)
            for ledger in state.ledgers.values():
                ledger.prune()
                ledger.prune_at = max(1024, 2 * len(ledger.seen))
            self.campaigns[state.campaign_id] = state
            for post_id, post in state.posts.items():
                agg = state.sets.get((Scope.POST, post_id, Window.ALL, None))
                post.reach_counted = 0 if agg is None else agg.reach_value()
            state.open_windows = [(_end_us(k), k) for k in state.sets if k[3] is not None]
            heapq.heapify(state.open_windows)
            state.block_ends = [(_block_end_us(block), block) for block in state.archive]
            heapq.heapify(state.block_ends)
            for end_us, block in state.block_ends:  # a block's end bounds its windows' ends
                window = block[2]
                state.packed_until[window] = max(
                    end_us, state.packed_until.get(window, _NEVER_US))
            count = sum(len(times) for times in state.valid_clicks.values())
            state.clicks_prune_at = max(1024, 2 * count)

    def new_state(self, campaign_id: str) -> CampaignState:
        """An empty campaign state bound to this engine's rules (for restoring into)."""
        return CampaignState(campaign_id, self.rules, self.changes)

    def forget(self, campaign_id: str) -> bool:
        """Drop everything about a campaign (its erasure); whether it was known.

        Records of the campaign applied afterwards start a new state, as for a new campaign.
        Forgotten again before the changes are taken, the first state erased stays the one
        recorded: it is what was persisted (the later one never was).
        """
        state = self.campaigns.pop(campaign_id, None)
        if state is None:
            return False
        self.changes.drop(campaign_id)
        self._reach_moved = {k: None for k in self._reach_moved if k[0] != campaign_id}
        self.changes.forgotten.setdefault(campaign_id, state)
        return True

    # -- alerts -----------------------------------------------------------------------------

    def evaluate_alerts(
        self,
        rules: AlertRules,
        campaign_ids: Iterable[str] | None = None,
        *,
        silent_s: dict[str, float] | None = None,
        in_flight: Iterable[str] = (),
        now_ms: int | None = None,
    ) -> None:
        """Run the alert rules on campaigns (those changed since the last take by default).

        Event-time rules judge a campaign as of its latest event, and date what they open or
        resolve with it. ``silent_s`` (processing-time seconds since each campaign's last
        event) and ``in_flight`` make ``feed_silent`` judge too, dated ``now_ms``; without
        them it is not judged (a replay has no processing time).
        """
        if campaign_ids is None:
            campaign_ids = {state.campaign_id for state in self.changes.sets.values()}
        flying = set(in_flight)
        for cid in sorted(campaign_ids):
            state = self.campaigns.get(cid)
            if state is None:
                continue
            if silent_s is None:
                view = self._view(state)
            else:  # processing time only: the rest of the view is not needed
                view = CampaignView(cid, 0, silent_s=silent_s.get(cid), in_flight=cid in flying)
            if silent_s is None:
                only = [rule for rule in RULES if rule != FEED_SILENT]
                firings = [f for f in evaluate(view, rules) if f.rule != FEED_SILENT]
                stamp = view.now_us // 1000
            else:
                only = [FEED_SILENT]
                firings = [f for f in evaluate(view, rules) if f.rule == FEED_SILENT]
                stamp = now_ms if now_ms is not None else view.now_us // 1000
            for record in follow(cid, state.alerts, firings, stamp, only=only):
                state.alerts[record.key] = record
                self.changes.alerts.append(record)

    def _view(self, state: CampaignState) -> CampaignView:
        definition = state.definition
        cid = state.campaign_id
        now_us = max((ledger.max_us or 0 for ledger in state.ledgers.values()), default=0)
        totals: dict[str, object] = {}
        campaign_all = state.sets.get((Scope.CAMPAIGN, cid, Window.ALL, None))
        if campaign_all is not None:
            totals = state.kpi_set(campaign_all).kpis
        influencers = {
            key[1]: (agg.counts[_ORDER_SLOT[Channel.CODE]],
                     agg.counts[_CLICKS_VALID] + agg.counts[_CLICKS_BOT]
                     + agg.counts[_CLICKS_REPEAT])
            for key, agg in state.sets.items()
            if key[0] is Scope.INFLUENCER and key[2] is Window.ALL
        }
        self._follow_hourly(state)
        return CampaignView(
            cid,
            now_us,
            None if definition is None else definition.objective,
            None if definition is None else definition.starts_at_us,
            None if definition is None else definition.ends_at_us,
            totals,
            influencers,
            {link: (counts[0], counts[1]) for link, counts in state.links.items()},
            dict(state.hourly),
        )

    def _follow_hourly(self, state: CampaignState) -> None:
        """Note the trended counter of the campaign's live hour windows (packed ones are final)."""
        objective = None if state.definition is None else state.definition.objective
        counter = TRENDED.get(objective or "")
        if counter is None:
            return
        slots = _TREND_SLOTS[counter]
        moved = False
        for key, agg in state.sets.items():
            if key[0] is Scope.CAMPAIGN and key[2] is Window.HOUR and key[3] is not None:
                value = sum(agg.counts[slot] for slot in slots)
                start_us = key[3] * US_PER_S
                if state.hourly.get(start_us) != value:
                    state.hourly[start_us] = value
                    moved = True
        if len(state.hourly) > _HOURLY_KEPT:
            for start_us in sorted(state.hourly)[: len(state.hourly) - _HOURLY_KEPT]:
                del state.hourly[start_us]
        if moved:
            self.changes.hourly.add(state.campaign_id)

    # -- checks 8-10 and duplicates ---------------------------------------------------------

    @staticmethod
    def _check_currency(state: CampaignState, event: AnyEvent) -> None:
        definition = state.definition
        if definition is None or not isinstance(event, Order | OrderRefund | Conversion):
            return
        currency = event.currency
        if currency is not None and currency != definition.currency:
            kind = type(event).__name__.lower().replace("orderrefund", "refund")
            raise InvalidRecord(
                Reason.CURRENCY_MISMATCH,
                f"{kind} currency {currency} differs from the campaign's {definition.currency}",
            )

    @staticmethod
    def _counts_an_id_again(state: CampaignState, event: AnyEvent) -> bool:
        if isinstance(event, PostPublished):
            post = state.posts.get(event.post_id)
            return post is not None and post.counted
        if isinstance(event, Order):
            return event.order_id in state.orders
        if isinstance(event, OrderRefund):
            return event.refund_id in state.refund_ids
        if isinstance(event, Conversion):
            return event.conversion_id in state.conversion_ids
        return False

    @staticmethod
    def _check_source(state: CampaignState, event: AnyEvent) -> None:
        if isinstance(event, Interaction):
            wanted, kind = Source.EVENTS, "an interaction"
        elif isinstance(event, PostMetrics):
            wanted, kind = Source.PLATFORM, "a post_metrics snapshot"
        else:
            return
        post = state.posts.get(event.post_id)
        if post is not None and post.source is not None and post.source != wanted:
            raise InvalidRecord(
                Reason.SOURCE_MISMATCH,
                f"{kind} for post {event.post_id!r}, whose metrics come from "
                f"{post.source} records",
            )

    @staticmethod
    def _refunded_order(state: CampaignState, event: AnyEvent) -> OrderState | None:
        """The counted order a refund matches (None: unmatched); check 10 on the way."""
        if not isinstance(event, OrderRefund):
            return None
        order = state.orders.get(event.order_id)
        if order is not None and order.refunded_minor + event.amount_minor > order.amount_minor:
            raise InvalidRecord(
                Reason.REFUND_EXCEEDS_ORDER,
                f"refunds of order {event.order_id!r} would reach "
                f"{order.refunded_minor + event.amount_minor}, more than its amount "
                f"{order.amount_minor}",
            )
        return order

    # -- one method per event type ----------------------------------------------------------

    def _define(self, state: CampaignState, event: CampaignDefined) -> Outcome:
        definition = state.definition
        if definition is not None and event.currency != definition.currency:
            raise InvalidRecord(
                Reason.CURRENCY_MISMATCH,
                f"campaign currency {event.currency} differs from the definition in force "
                f"({definition.currency}); a campaign's currency never changes",
            )
        ledger = state.ledgers[Topic.CAMPAIGNS]
        if ledger.is_duplicate(event.event_id):
            state.campaign_all().counts[_DUPLICATES] += 1
            return Outcome.DUPLICATE
        ledger.register(event.event_id, event.occurred_at_us)
        self.changes.register(
            state.campaign_id, Topic.CAMPAIGNS, (event.event_id, event.occurred_at_us, None)
        )
        self.changes.maxima.add(state.campaign_id)
        if definition is None or event.occurred_at_us >= definition.occurred_at_us:
            state.definition = event
            self.changes.definitions.add(state.campaign_id)
            tiers = roster_tiers(event)
            for influencer_id in state.tiers.keys() | tiers.keys():
                key = (Scope.INFLUENCER, influencer_id, Window.ALL, None)
                if state.tiers.get(influencer_id) != tiers.get(influencer_id) and key in state.sets:
                    state.touch(key)  # its `tier` attribute changed
            state.tiers = tiers
        state.campaign_all()  # objective, budget and targets live in this set
        return Outcome.COUNTED

    def _interaction(self, state: CampaignState, event: Interaction, late: bool) -> None:
        post = state.post(event.post_id)
        if post.source is None:
            post.source = Source.EVENTS
            self.changes.posts.add((state.campaign_id, event.post_id))
        targets = state.targets(event.occurred_at_us, event.influencer_id, event.post_id, late)
        slot = _ACTION_SLOT[event.action]
        count = event.count
        for agg in targets.counted():
            agg.counts[slot] += count
        if event.viewer_id is not None and event.action in REACH_ACTIONS:
            hashed = self.rules.viewer_hash(event.viewer_id)
            for agg in targets.alls:
                _add_viewer(agg, hashed)
            for agg in targets.windowed:
                _add_viewer(agg, hashed)
            self._reach_moved[state.campaign_id, event.post_id] = None

    def _snapshot(self, state: CampaignState, event: PostMetrics, late: bool) -> None:
        post = state.post(event.post_id)
        key = (state.campaign_id, event.post_id)
        if post.source is None:
            post.source = Source.PLATFORM
            self.changes.posts.add(key)
        if post.snapshot_at_us is not None and event.occurred_at_us < post.snapshot_at_us:
            state.campaign_all().counts[_STALE] += 1
            return
        post.snapshot_at_us = event.occurred_at_us
        self.changes.posts.add(key)
        targets = state.targets(event.occurred_at_us, event.influencer_id, event.post_id, late)
        aggs = targets.counted()
        for metric, value in event.metrics:
            delta = value - post.metrics.get(metric, 0)
            post.metrics[metric] = value
            if metric == "reach":
                state.touch((Scope.POST, event.post_id, Window.ALL, None)).reach = value
                self._reach_moved[key] = None
            elif delta:
                slot = _METRIC_SLOT[metric]
                for agg in aggs:
                    agg.counts[slot] += delta

    def _click(self, state: CampaignState, event: Click, late: bool) -> None:
        index = self._classify_click(state, event, late)
        targets = state.targets(event.occurred_at_us, event.influencer_id, event.post_id, late)
        for agg in targets.counted():
            agg.counts[index] += 1
        link = state.links.setdefault(event.link_id, [0, 0])
        link[0] += 1
        link[1] += index == _CLICKS_BOT
        self.changes.links.add((state.campaign_id, event.link_id))

    def _classify_click(self, state: CampaignState, event: Click, late: bool) -> int:
        if event.user_agent is not None:
            agent = event.user_agent.lower()
            if any(marker in agent for marker in BOT_MARKERS):
                return _CLICKS_BOT
        if event.visitor_id is None:
            return _CLICKS_VALID
        t = event.occurred_at_us
        visitor = self.rules.pseudonym(event.visitor_id)
        times = state.valid_clicks.setdefault((visitor, event.link_id), [])
        if not late and any(t - REPEAT_CLICK_US < earlier <= t for earlier in times):
            return _CLICKS_REPEAT
        times.append(t)
        self.changes.valid_clicks.setdefault(state.campaign_id, []).append(
            (visitor, event.link_id, t)
        )
        return _CLICKS_VALID

    def _post(self, state: CampaignState, event: PostPublished, late: bool) -> None:
        post = state.post(event.post_id)
        post.counted = True
        post.published = Publication(
            event.influencer_id, event.platform, event.format, event.occurred_at_us // US_PER_S
        )
        self.changes.posts.add((state.campaign_id, event.post_id))
        targets = state.targets(event.occurred_at_us, event.influencer_id, event.post_id, late)
        for agg in targets.counted():
            agg.counts[_POSTS] += 1
        for agg in targets.alls:
            agg.counts[_POTENTIAL_REACH] += event.followers
            agg.counts[_SPEND] += event.cost_minor
        for agg in targets.campaign:
            _add_influencer(agg, event.influencer_id)
        # Its reach counts in its influencer's reach_sum from now on.
        state.influencer_all(event.influencer_id).counts[_REACH_SUM] += post.reach_counted

    def _order(self, state: CampaignState, event: Order, late: bool) -> None:
        if self._out_of_window(state, event):
            state.orders[event.order_id] = None
            state.campaign_all().counts[_ORDERS_OUT_OF_WINDOW] += 1
        else:
            influencer_id, channel = attribute(state.definition, event)
            state.orders[event.order_id] = OrderState(event.amount_minor, influencer_id)
            slot = _ORDER_SLOT[channel]
            for agg in state.targets(event.occurred_at_us, influencer_id, None, late).counted():
                agg.counts[slot] += 1
                agg.counts[_REVENUE] += event.amount_minor
        self.changes.orders.add((state.campaign_id, event.order_id))

    def _refund(
        self, state: CampaignState, event: OrderRefund, order: OrderState | None, late: bool
    ) -> None:
        state.refund_ids.add(event.refund_id)
        if order is None:
            state.campaign_all().counts[_REFUNDS_UNMATCHED] += 1
            return
        order.refunded_minor += event.amount_minor
        self.changes.orders.add((state.campaign_id, event.order_id))
        targets = state.targets(event.occurred_at_us, order.influencer_id, None, late)
        for agg in targets.counted():
            agg.counts[_REFUNDS] += 1
            agg.counts[_REFUNDED] += event.amount_minor

    def _conversion(self, state: CampaignState, event: Conversion, late: bool) -> None:
        state.conversion_ids.add(event.conversion_id)
        if self._out_of_window(state, event):
            state.campaign_all().counts[_CONVERSIONS_OUT_OF_WINDOW] += 1
            return
        influencer_id, channel = attribute(state.definition, event)
        slot = _CONVERSION_SLOT[channel]
        value = event.value_minor or 0
        for agg in state.targets(event.occurred_at_us, influencer_id, None, late).counted():
            agg.counts[slot] += 1
            agg.counts[_CONVERSION_VALUE] += value
            by_action = agg.by_action
            if by_action is None:
                by_action = agg.by_action = {}
            by_action[event.action] = by_action.get(event.action, 0) + 1

    @staticmethod
    def _out_of_window(state: CampaignState, event: Attributable) -> bool:
        definition = state.definition
        return definition is not None and event.occurred_at_us > (
            definition.ends_at_us + definition.attribution_window_days * DAY_US
        )

    def _review(self, state: CampaignState, event: ContentReview) -> None:
        pair = (event.post_id, self.rules.pseudonym(event.reviewer_id))
        current = state.reviews.get(pair)
        if current is not None and current.occurred_at_us > event.occurred_at_us:
            return  # an older review: counted, but not in force
        if current is not None:
            _review_weight(state, pair[0], current, -1)
        review = ReviewInForce(event.occurred_at_us, event.influencer_id, event.scores)
        state.reviews[pair] = review
        self.changes.reviews.add((state.campaign_id, *pair))
        _review_weight(state, pair[0], review, 1)

    def _answer(self, state: CampaignState, event: SurveyResponse) -> None:
        pair = (self.rules.pseudonym(event.respondent_id), event.question)
        current = state.answers.get(pair)
        if current is not None and current.occurred_at_us > event.occurred_at_us:
            return  # an older answer: counted, but not in force
        counts = state.campaign_all().counts
        lift = state.lift.setdefault(event.question, [0, 0, 0, 0])
        if current is None:
            counts[_SURVEY_RESPONSES] += 1
        else:
            _answer_weight(lift, current, -1)
        answer = AnswerInForce(event.occurred_at_us, event.group, event.positive)
        state.answers[pair] = answer
        _answer_weight(lift, answer, 1)
        self.changes.answers.add((state.campaign_id, *pair))

    # -- derived KPIs -----------------------------------------------------------------------

    def _follow_reach(self) -> None:
        """Bring reach_sum up to date with the post-scope reach of the posts that moved."""
        moved, self._reach_moved = self._reach_moved, {}
        for cid, post_id in moved:
            state = self.campaigns[cid]
            post = state.posts[post_id]
            agg = state.sets.get((Scope.POST, post_id, Window.ALL, None))
            reach = 0 if agg is None else agg.reach_value()
            delta = reach - post.reach_counted
            if not delta:
                continue
            post.reach_counted = reach
            state.campaign_all().counts[_REACH_SUM] += delta
            if post.published is not None:
                state.influencer_all(post.published.influencer_id).counts[_REACH_SUM] += delta


_NEVER_US: Final = -(2**63)  # before any time: nothing packed yet


def _end_us(key: SetKey) -> int:
    _, _, window, start = key
    assert start is not None
    return (start + WINDOW_SIZES_S[window]) * US_PER_S


def _block_end_us(block: BlockKey) -> int:
    return (block[3] + BLOCK_S[block[2]]) * US_PER_S


def _add_viewer(agg: Aggregate, hashed: int) -> None:
    reach = agg.reach
    if reach is None:
        reach = agg.reach = Reach()
    if type(reach) is Reach:
        reach.add(hashed)


def _add_influencer(agg: Aggregate, influencer_id: str) -> None:
    influencers = agg.influencers
    if influencers is None:
        influencers = agg.influencers = set()
    if type(influencers) is set:
        influencers.add(influencer_id)


def _review_weight(state: CampaignState, post_id: str, review: ReviewInForce, sign: int) -> None:
    for key in (
        (Scope.CAMPAIGN, state.campaign_id, Window.ALL, None),
        (Scope.INFLUENCER, review.influencer_id, Window.ALL, None),
        (Scope.POST, post_id, Window.ALL, None),
    ):
        counts = state.touch(key).counts
        counts[_REVIEWS] += sign
        for criterion, score in review.scores:
            counts[SCORE_SUM[criterion]] += sign * score
            counts[SCORE_COUNT[criterion]] += sign


def _answer_weight(lift: LiftCounts, answer: AnswerInForce, sign: int) -> None:
    at = 0 if answer.group == Group.EXPOSED else 2
    lift[at] += sign
    if answer.positive:
        lift[at + 1] += sign


__all__ = [
    "AnswerInForce",
    "CampaignState",
    "Changes",
    "Engine",
    "KpiSet",
    "OrderState",
    "PostState",
    "Publication",
    "Registration",
    "ReviewInForce",
    "SetKey",
    "TopicLedger",
    "sort_key",
]
