"""Order independence where contract section 3 allows it.

* Campaigns are independent: replaying a stream equals merging the replays of its split by
  campaign (every rule of section 3 is per campaign).
* Within a campaign, dedup, lateness, click repeats, snapshots in force, refunds, reviews and
  answers in force depend only on the order of one (campaign, topic); orders and conversions
  depend on the definition in force. So once the definition is in force (producers publish it
  first), any interleaving of topics that keeps each (campaign, topic) in order yields the
  same KPI sets.
* When flushes happen (the engine's changes are taken) does not change any KPI set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.events import (
    AnyEvent,
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
from streams.domain.vocabulary import Topic

from ..unit.v2_stream import BASE, HOUR, METRICS, MINUTE, definition

Item = tuple[Topic, AnyEvent]
CAMPAIGN_IDS = ("ca", "cb", "cc")

# times spread over +-10 h around BASE, so that lateness (6 h) and dedup (10 min) both bite
times = st.one_of(
    st.integers(-10 * HOUR, 10 * HOUR),
    st.integers(-20, 20).map(lambda m: m * MINUTE),
).map(lambda d: BASE + d)
event_ids = st.sampled_from([f"e{i}" for i in range(12)])
campaign_ids = st.sampled_from(CAMPAIGN_IDS)
posts = st.sampled_from(["p1", "p2", "p3"])
influencers = st.sampled_from(["i1", "i2", "i3"])
KINDS = ("post", "interaction", "interaction", "snapshot", "click", "click", "order", "refund",
         "review", "conversion", "answer")


@st.composite
def counted_event(draw: st.DrawFn, campaign_id: str) -> Item:
    kind = draw(st.sampled_from(KINDS))
    common = (draw(event_ids), draw(times), campaign_id)
    if kind == "post":
        return Topic.POSTS, PostPublished(
            *common, post_id=draw(posts), influencer_id=draw(influencers), platform="x",
            format="post", followers=draw(st.integers(0, 500)),
            cost_minor=draw(st.integers(0, 300)),
        )
    if kind == "interaction":
        return Topic.INTERACTIONS, Interaction(
            *common, post_id=draw(posts), influencer_id=draw(influencers),
            action=draw(st.sampled_from(["impression", "view", "like", "comment", "share",
                                         "save", "reply"])),
            viewer_id=draw(st.none() | st.sampled_from(["v1", "v2", "v3"])),
            count=draw(st.integers(1, 5)),
        )
    if kind == "snapshot":
        chosen = draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=4, unique=True))
        return Topic.INTERACTIONS, PostMetrics(
            *common, post_id=draw(posts), influencer_id=draw(influencers),
            metrics=tuple((m, draw(st.integers(0, 300))) for m in METRICS if m in chosen),
        )
    if kind == "click":
        return Topic.CLICKS, Click(
            *common, link_id=draw(st.sampled_from(["l1", "l2"])),
            influencer_id=draw(influencers), channel="link", post_id=draw(st.none() | posts),
            visitor_id=draw(st.none() | st.sampled_from(["x1", "x2"])),
            user_agent=draw(st.none() | st.sampled_from(["Mozilla", "Googlebot"])),
        )
    if kind == "order":
        return Topic.ORDERS, Order(
            *common, order_id=draw(st.sampled_from(["o1", "o2", "o3", "o4"])),
            amount_minor=draw(st.integers(0, 1000)),
            currency=draw(st.sampled_from(["EUR", "EUR", "EUR", "USD"])),
            promo_code=draw(st.none() | st.sampled_from(["code-a", "CODE-B", "x"])),
            link_id=draw(st.none() | st.sampled_from(["l1", "l2", "l9"])),
        )
    if kind == "refund":
        return Topic.ORDERS, OrderRefund(
            *common, refund_id=draw(st.sampled_from(["r1", "r2", "r3"])),
            order_id=draw(st.sampled_from(["o1", "o2", "o5"])),
            amount_minor=draw(st.integers(1, 600)),
            currency=draw(st.sampled_from(["EUR", "EUR", "USD"])),
        )
    if kind == "review":
        criteria = draw(st.lists(st.sampled_from(["tone", "brand_fit", "compliance"]),
                                 min_size=1, max_size=3, unique=True))
        return Topic.CONTENT_REVIEWS, ContentReview(
            *common, post_id=draw(posts), influencer_id=draw(influencers),
            reviewer_id=draw(st.sampled_from(["r1", "r2"])),
            scores=tuple((c, draw(st.integers(1, 5))) for c in criteria),
        )
    if kind == "conversion":
        value = draw(st.none() | st.integers(0, 100))
        return Topic.CONVERSIONS, Conversion(
            *common, conversion_id=draw(st.sampled_from(["k1", "k2", "k3"])),
            action=draw(st.sampled_from(["lead", "signup"])),
            promo_code=draw(st.none() | st.sampled_from(["code-a", "code-b"])),
            link_id=draw(st.none() | st.sampled_from(["l1", "l2"])),
            value_minor=value,
            currency=draw(st.sampled_from(["EUR", "USD"]) if value is not None
                          else st.none() | st.just("USD")),
        )
    return Topic.SURVEYS, SurveyResponse(
        *common, respondent_id=draw(st.sampled_from(["u1", "u2", "u3"])),
        group=draw(st.sampled_from(["exposed", "control"])),
        question=draw(st.sampled_from(["awareness", "recall"])),
        positive=draw(st.booleans()),
    )


@st.composite
def stream(draw: st.DrawFn, with_definitions: bool) -> list[Item]:
    """Events of several campaigns; definitions (if any) anywhere, some with a new currency."""
    items: list[Item] = []
    for _ in range(draw(st.integers(0, 50))):
        cid = draw(campaign_ids)
        if with_definitions and draw(st.integers(0, 9)) == 0:
            currency = draw(st.sampled_from(["EUR", "EUR", "USD"]))
            items.append((Topic.CAMPAIGNS, definition(cid, draw(times), currency=currency,
                                                      variant=draw(st.integers(0, 5)))))
        else:
            items.append(draw(counted_event(cid)))
    return items


def replay(items: Sequence[Item], flush_after: frozenset[int] = frozenset()) -> dict[str, object]:
    engine = Engine()
    for number, (topic, event) in enumerate(items):
        with contextlib.suppress(InvalidRecord):
            engine.apply(topic, event)
        if number in flush_after:
            engine.kpi_sets(engine.take_changes())
    return {s.key: s.kpis for s in engine.all_sets()}


@settings(max_examples=60, deadline=None)
@given(stream(with_definitions=True), st.sets(campaign_ids))
def test_split_by_campaign_equals_whole(items: list[Item], left: set[str]) -> None:
    whole = replay(items)
    first = replay([item for item in items if item[1].campaign_id in left])
    second = replay([item for item in items if item[1].campaign_id not in left])
    assert first.keys().isdisjoint(second.keys())
    assert whole == {**first, **second}


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[list[Item], list[Item]]:
    """A stream after its campaigns' definitions, and a reordering that keeps topic order.

    The reordering keeps the events of every (campaign, topic) in their original order.
    """
    defined = draw(st.sets(campaign_ids))
    head: list[Item] = [
        (Topic.CAMPAIGNS, definition(cid, BASE - 30 * 24 * HOUR)) for cid in sorted(defined)
    ]
    body = draw(stream(with_definitions=False))
    queues: dict[tuple[str, Topic], list[Item]] = {}
    for item in body:
        queues.setdefault((item[1].campaign_id, item[0]), []).append(item)
    labels = [(item[1].campaign_id, item[0]) for item in body]
    order = draw(st.permutations(labels))
    cursor = dict.fromkeys(queues, 0)
    shuffled: list[Item] = []
    for label in order:
        shuffled.append(queues[label][cursor[label]])
        cursor[label] += 1
    return head + body, head + shuffled


@settings(max_examples=80, deadline=None)
@given(interleavings())
def test_interleaving_of_topics_does_not_matter(pair: tuple[list[Item], list[Item]]) -> None:
    original, reordered = pair
    assert replay(original) == replay(reordered)


@settings(max_examples=50, deadline=None)
@given(stream(with_definitions=True), st.frozensets(st.integers(0, 50)))
def test_when_flushes_happen_does_not_change_the_kpi_sets(
    items: list[Item], flush_after: frozenset[int]
) -> None:
    assert replay(items, flush_after) == replay(items)
