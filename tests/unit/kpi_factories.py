"""Factories for the domain events of contract v2, with defaults, and engine look-ups.

Times are written as ISO 8601 strings and converted here with :mod:`datetime` (independently of
the product's codec) into integer microseconds since the epoch, UTC.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from streams.domain.engine import Engine, KpiSet
from streams.domain.events import (
    AnyEvent,
    CampaignDefined,
    Click,
    ContentReview,
    Conversion,
    Interaction,
    Order,
    OrderRefund,
    PostMetrics,
    PostPublished,
    RosterEntry,
    SurveyResponse,
)
from streams.domain.vocabulary import Outcome, Topic

CID = "c1"
T0 = "2026-11-02T10:05:00Z"
SEC = 1_000_000
MINUTE = 60 * SEC
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# The snapshot metrics of contract 1.4.1, in its order.
METRICS = ("impressions", "reach", "views", "likes", "comments", "shares", "saves", "replies")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


def us(iso: str) -> int:
    """Epoch microseconds of an ISO time (``Z`` or ``+hh:mm``)."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00").replace("z", "+00:00"))
    return (dt - _EPOCH) // timedelta(microseconds=1)


def secs(iso: str) -> int:
    """Epoch seconds of an ISO time that falls on a whole second."""
    value = us(iso)
    assert value % SEC == 0
    return value // SEC


def at(iso: str, delta_us: int = 0) -> int:
    """``iso`` shifted by ``delta_us`` microseconds."""
    return us(iso) + delta_us


def iso(t: int) -> str:
    """The ISO text of epoch microseconds (UTC)."""
    return (_EPOCH + timedelta(microseconds=t)).isoformat()


def new_id(prefix: str = "e") -> str:
    """A fresh event id."""
    return f"{prefix}{next(_ids)}"


def _time(t: str | int) -> int:
    return us(t) if isinstance(t, str) else t


def campaign(
    t: str | int = "2026-11-01T00:00:00Z",
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    name: str = "Launch",
    objective: str = "engagement",
    starts_at: str = "2026-11-01T00:00:00Z",
    ends_at: str = "2026-11-30T00:00:00Z",
    currency: str = "EUR",
    budget_minor: int | None = None,
    attribution_window_days: int = 7,
    targets: Mapping[str, float] | None = None,
    roster: Iterable[RosterEntry] = (),
) -> CampaignDefined:
    """A campaign definition; promo codes are indexed after Unicode case folding."""
    entries = tuple(roster)
    code_owners = {
        code.casefold(): entry.influencer_id for entry in entries for code in entry.promo_codes
    }
    link_owners = {link: entry.influencer_id for entry in entries for link in entry.link_ids}
    return CampaignDefined(
        event_id=event_id or new_id("def"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        name=name,
        objective=objective,
        starts_at_us=us(starts_at),
        ends_at_us=us(ends_at),
        currency=currency,
        budget_minor=budget_minor,
        attribution_window_days=attribution_window_days,
        targets=dict(targets or {}),
        influencers=entries,
        code_owners=code_owners,
        link_owners=link_owners,
    )


def roster_entry(
    influencer_id: str,
    codes: Iterable[str] = (),
    links: Iterable[str] = (),
    tier: str | None = None,
) -> RosterEntry:
    """One roster item."""
    return RosterEntry(influencer_id, tier, tuple(codes), tuple(links))


def post(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    post_id: str = "p1",
    influencer_id: str = "i1",
    platform: str = "instagram",
    format: str = "reel",
    followers: int = 1000,
    cost_minor: int = 0,
) -> PostPublished:
    """A published post."""
    return PostPublished(
        event_id=event_id or new_id("post"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        post_id=post_id,
        influencer_id=influencer_id,
        platform=platform,
        format=format,
        followers=followers,
        cost_minor=cost_minor,
    )


def interaction(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    action: str = "like",
    post_id: str = "p1",
    influencer_id: str = "i1",
    viewer_id: str | None = None,
    count: int = 1,
) -> Interaction:
    """An interaction."""
    return Interaction(
        event_id=event_id or new_id("int"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        post_id=post_id,
        influencer_id=influencer_id,
        action=action,
        viewer_id=viewer_id,
        count=count,
    )


def snapshot(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    post_id: str = "p1",
    influencer_id: str = "i1",
    **metrics: int,
) -> PostMetrics:
    """A ``post_metrics`` platform snapshot carrying the given lifetime metrics."""
    unknown = set(metrics) - set(METRICS)
    assert not unknown, unknown
    assert metrics, "a snapshot carries at least one metric"
    return PostMetrics(
        event_id=event_id or new_id("snap"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        post_id=post_id,
        influencer_id=influencer_id,
        metrics=tuple((name, metrics[name]) for name in METRICS if name in metrics),
    )


def click(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    link_id: str = "l1",
    influencer_id: str = "i1",
    post_id: str | None = None,
    visitor_id: str | None = None,
    user_agent: str | None = None,
) -> Click:
    """A click."""
    return Click(
        event_id=event_id or new_id("clk"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        link_id=link_id,
        influencer_id=influencer_id,
        channel="link",
        post_id=post_id,
        visitor_id=visitor_id,
        user_agent=user_agent,
    )


def order(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    order_id: str | None = None,
    amount_minor: int = 1000,
    currency: str = "EUR",
    promo_code: str | None = None,
    link_id: str | None = None,
) -> Order:
    """An order."""
    return Order(
        event_id=event_id or new_id("ord"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        order_id=order_id or new_id("o"),
        amount_minor=amount_minor,
        currency=currency,
        promo_code=promo_code,
        link_id=link_id,
    )


def refund(
    t: str | int = T0,
    *,
    order_id: str,
    event_id: str | None = None,
    campaign_id: str = CID,
    refund_id: str | None = None,
    amount_minor: int = 100,
    currency: str = "EUR",
) -> OrderRefund:
    """An ``order_refund`` of ``order_id``."""
    return OrderRefund(
        event_id=event_id or new_id("ref"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        refund_id=refund_id or new_id("r"),
        order_id=order_id,
        amount_minor=amount_minor,
        currency=currency,
    )


def conversion(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    conversion_id: str | None = None,
    action: str = "lead",
    promo_code: str | None = None,
    link_id: str | None = None,
    value_minor: int | None = None,
    currency: str | None = None,
) -> Conversion:
    """A conversion (an action other than a purchase)."""
    return Conversion(
        event_id=event_id or new_id("cnv"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        conversion_id=conversion_id or new_id("k"),
        action=action,
        promo_code=promo_code,
        link_id=link_id,
        value_minor=value_minor,
        currency=currency,
    )


def answer(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    respondent_id: str = "u1",
    group: str = "exposed",
    question: str = "awareness",
    positive: bool = True,
) -> SurveyResponse:
    """A brand-lift ``survey_response``."""
    return SurveyResponse(
        event_id=event_id or new_id("ans"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        respondent_id=respondent_id,
        group=group,
        question=question,
        positive=positive,
    )


def review(
    t: str | int = T0,
    *,
    event_id: str | None = None,
    campaign_id: str = CID,
    post_id: str = "p1",
    influencer_id: str = "i1",
    reviewer_id: str = "r1",
    scores: Mapping[str, int] | None = None,
) -> ContentReview:
    """A content review; ``scores`` defaults to ``{"tone": 4}``."""
    return ContentReview(
        event_id=event_id or new_id("rev"),
        occurred_at_us=_time(t),
        campaign_id=campaign_id,
        post_id=post_id,
        influencer_id=influencer_id,
        reviewer_id=reviewer_id,
        scores=tuple((scores or {"tone": 4}).items()),
    )


# The topic each event type travels on (contract 1, topic table).
TOPIC_OF: dict[type, Topic] = {
    CampaignDefined: Topic.CAMPAIGNS,
    PostPublished: Topic.POSTS,
    Interaction: Topic.INTERACTIONS,
    PostMetrics: Topic.INTERACTIONS,
    Click: Topic.CLICKS,
    Order: Topic.ORDERS,
    OrderRefund: Topic.ORDERS,
    ContentReview: Topic.CONTENT_REVIEWS,
    Conversion: Topic.CONVERSIONS,
    SurveyResponse: Topic.SURVEYS,
}


def topic_of(event: AnyEvent) -> Topic:
    """The logical topic an event travels on."""
    return TOPIC_OF[type(event)]


def feed(engine: Engine, *events: AnyEvent) -> list[Outcome]:
    """Apply events in order, each on its own topic; return the outcomes."""
    return [engine.apply(topic_of(event), event) for event in events]


def engine_with(*events: AnyEvent) -> Engine:
    """A fresh engine after ``events``."""
    engine = Engine()
    feed(engine, *events)
    return engine


def changed(engine: Engine) -> list[KpiSet]:
    """The KPI sets changed since the previous call (what a flush writes)."""
    return engine.kpi_sets(engine.take_changes())


SetId = tuple[str, str, str, str, int | None]


def sets(engine: Engine) -> dict[SetId, KpiSet]:
    """Every KPI set, by (campaign, scope, scope_id, window, start)."""
    return {
        (s.campaign_id, s.scope, s.scope_id, s.window, s.window_start): s
        for s in engine.all_sets()
    }


def snapshot_of(engine: Engine) -> dict[SetId, dict[str, object]]:
    """Every KPI set's values, by place: to compare an engine before and after."""
    return {place: dict(s.kpis) for place, s in sets(engine).items()}


def window_start(window: str, t: str | int) -> int:
    """Start (epoch seconds) of the ``1d``/``1h``/``1m`` window holding ``t``."""
    size = {"1d": 86_400, "1h": 3_600, "1m": 60}[window]
    second = _time(t) // SEC
    return second - second % size


def kpis(
    engine: Engine,
    scope: str = "campaign",
    scope_id: str | None = None,
    window: str = "all",
    start: str | int | None = None,
    *,
    campaign_id: str = CID,
) -> dict[str, object] | None:
    """The KPIs of one set, or None when the set does not exist.

    ``start`` is any time inside the window (it is floored to the window start here).
    """
    sid = campaign_id if scope_id is None and scope == "campaign" else scope_id
    assert sid is not None
    start_s: int | None = None
    if window != "all":
        assert start is not None
        start_s = window_start(window, start)
    found = sets(engine).get((campaign_id, scope, sid, window, start_s))
    return None if found is None else found.kpis


def kpi(
    engine: Engine,
    name: str,
    scope: str = "campaign",
    scope_id: str | None = None,
    window: str = "all",
    *,
    start: str | int | None = None,
    campaign_id: str = CID,
) -> object:
    """One KPI value; None when the KPI or its set is absent."""
    values = kpis(engine, scope, scope_id, window, start, campaign_id=campaign_id)
    return None if values is None else values.get(name)
