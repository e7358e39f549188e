"""Order independence where contract section 3 allows it.

* Campaigns are independent: replaying a stream equals merging the replays of its split by
  campaign (every rule of section 3 is per campaign).
* Within a campaign, dedup, lateness, click repeats and reviews in force depend only on the
  order of one (campaign, topic); orders depend on the definition in force. So once the
  definition is in force (producers publish it first), any interleaving of topics that keeps
  each (campaign, topic) in order yields the same KPI sets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.events import (
    CAMPAIGNS,
    CLICKS,
    CONTENT_REVIEWS,
    INTERACTIONS,
    ORDERS,
    POSTS,
    AnyEvent,
    CampaignDefined,
    Click,
    ContentReview,
    Interaction,
    Order,
    PostPublished,
    RosterEntry,
)

MIN = 60 * 1_000_000
HOUR = 60 * MIN
BASE = 1_793_613_600 * 1_000_000  # 2026-11-02T10:00:00Z

Item = tuple[str, AnyEvent]

# times spread over +-10 h around BASE, so that lateness (6 h) and dedup (10 min) both bite
times = st.one_of(
    st.integers(-10 * HOUR, 10 * HOUR),
    st.integers(-20, 20).map(lambda m: m * MIN),
).map(lambda d: BASE + d)
event_ids = st.sampled_from([f"e{i}" for i in range(12)])
campaign_ids = st.sampled_from(["ca", "cb", "cc"])
posts = st.sampled_from(["p1", "p2", "p3"])
influencers = st.sampled_from(["i1", "i2", "i3"])


def definition(campaign_id: str, occurred_at_us: int, currency: str = "EUR") -> CampaignDefined:
    roster = (
        RosterEntry("i1", None, ("CODE1",), ("l1",)),
        RosterEntry("i2", None, ("Code2",), ("l2",)),
    )
    return CampaignDefined(
        event_id=f"def-{occurred_at_us}",
        occurred_at_us=occurred_at_us,
        campaign_id=campaign_id,
        name="n",
        objective="conversion",
        starts_at_us=BASE - 24 * HOUR,
        ends_at_us=BASE,
        currency=currency,
        budget_minor=10_000,
        attribution_window_days=0,  # orders after BASE are out of window
        targets={"engagements": 10.0, "cpm_minor": 100.0},
        influencers=roster,
        code_owners={"code1": "i1", "code2": "i2"},
        link_owners={"l1": "i1", "l2": "i2"},
    )


@st.composite
def counted_event(draw: st.DrawFn, campaign_id: str) -> Item:
    kind = draw(st.sampled_from([POSTS, INTERACTIONS, INTERACTIONS, CLICKS, CLICKS, ORDERS,
                                 CONTENT_REVIEWS]))
    common = (draw(event_ids), draw(times), campaign_id)
    event: AnyEvent
    if kind == POSTS:
        event = PostPublished(*common, post_id=draw(posts), influencer_id=draw(influencers),
                              platform="x", format="post",
                              followers=draw(st.integers(0, 500)),
                              cost_minor=draw(st.integers(0, 300)))
    elif kind == INTERACTIONS:
        event = Interaction(*common, post_id=draw(posts), influencer_id=draw(influencers),
                            action=draw(st.sampled_from(["impression", "view", "like",
                                                         "comment", "share", "save",
                                                         "reply"])),
                            viewer_id=draw(st.none() | st.sampled_from(["v1", "v2", "v3"])),
                            count=draw(st.integers(1, 5)))
    elif kind == CLICKS:
        event = Click(*common, link_id=draw(st.sampled_from(["l1", "l2"])),
                      influencer_id=draw(influencers), channel="link",
                      post_id=draw(st.none() | posts),
                      visitor_id=draw(st.none() | st.sampled_from(["x1", "x2"])),
                      user_agent=draw(st.none() | st.sampled_from(["Mozilla", "Googlebot"])))
    elif kind == ORDERS:
        event = Order(*common, order_id=draw(st.sampled_from(["o1", "o2", "o3", "o4"])),
                      amount_minor=draw(st.integers(0, 1000)),
                      currency=draw(st.sampled_from(["EUR", "EUR", "EUR", "USD"])),
                      promo_code=draw(st.none() | st.sampled_from(["code1", "CODE2", "x"])),
                      link_id=draw(st.none() | st.sampled_from(["l1", "l2", "l9"])))
    else:
        criteria = draw(st.lists(st.sampled_from(["tone", "brand_fit", "compliance"]),
                                 min_size=1, max_size=3, unique=True))
        event = ContentReview(*common, post_id=draw(posts), influencer_id=draw(influencers),
                              reviewer_id=draw(st.sampled_from(["r1", "r2"])),
                              scores=tuple((c, draw(st.integers(1, 5))) for c in criteria))
    return kind, event


@st.composite
def stream(draw: st.DrawFn, with_definitions: bool) -> list[Item]:
    """Events of several campaigns; definitions (if any) anywhere, some with a new currency."""
    items: list[Item] = []
    for _ in range(draw(st.integers(0, 50))):
        cid = draw(campaign_ids)
        if with_definitions and draw(st.integers(0, 9)) == 0:
            currency = draw(st.sampled_from(["EUR", "EUR", "USD"]))
            items.append((CAMPAIGNS, definition(cid, draw(times), currency)))
        else:
            items.append(draw(counted_event(cid)))
    return items


def replay(items: Sequence[Item]) -> dict[str, dict[str, object]]:
    engine = Engine()
    for topic, event in items:
        with contextlib.suppress(InvalidRecord):
            engine.apply(topic, event)
    return {s.key: s.kpis for s in engine.all_sets()}


@settings(max_examples=60, deadline=None)
@given(stream(with_definitions=True), st.sets(st.sampled_from(["ca", "cb", "cc"])))
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
    defined = draw(st.sets(st.sampled_from(["ca", "cb", "cc"])))
    head = [(CAMPAIGNS, definition(cid, BASE - 30 * 24 * HOUR)) for cid in sorted(defined)]
    body = draw(stream(with_definitions=False))
    queues: dict[tuple[str, str], list[Item]] = {}
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
