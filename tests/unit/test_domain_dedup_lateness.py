"""Duplicates and late data, contract section 3."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.events import AnyEvent
from streams.domain.vocabulary import Topic

from .kpi_factories import (
    HOUR,
    MINUTE,
    SEC,
    T0,
    answer,
    at,
    campaign,
    click,
    conversion,
    engine_with,
    feed,
    interaction,
    kpi,
    kpis,
    order,
    post,
    refund,
    review,
    snapshot,
    snapshot_of,
    topic_of,
)

# For each counted topic: a factory of an event at time t, and the KPI it feeds at campaign
# scope in every window.
FEEDS: dict[str, tuple[Callable[..., AnyEvent], str]] = {
    "posts": (lambda t, **kw: post(t, post_id=kw.pop("post_id", None) or f"p-{t}", **kw),
              "posts"),
    "interactions": (lambda t, **kw: interaction(t, action="like", **kw), "likes"),
    "clicks": (click, "clicks"),
    "orders": (order, "orders"),
    "conversions": (conversion, "conversions"),
}


# -- duplicates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: post(event_id="dup"),
        lambda: interaction(event_id="dup"),
        lambda: click(event_id="dup", visitor_id="v"),
        lambda: order(event_id="dup"),
        lambda: review(event_id="dup"),
        lambda: campaign(event_id="dup"),
        lambda: snapshot(event_id="dup", likes=3),
        lambda: refund(event_id="dup", order_id="o-unknown"),
        lambda: conversion(event_id="dup"),
        lambda: answer(event_id="dup"),
    ],
    ids=["posts", "interactions", "clicks", "orders", "content-reviews", "campaigns",
         "post_metrics", "order_refund", "conversions", "surveys"],
)
def test_same_event_id_counted_once_per_topic(make: Callable[[], AnyEvent]) -> None:
    event = make()
    engine = Engine()
    assert feed(engine, event) == ["counted"]
    before = snapshot_of(engine)
    assert feed(engine, event, event) == ["duplicate", "duplicate"]
    after = snapshot_of(engine)
    campaign_all = ("c1", "campaign", "c1", "all", None)
    assert after[campaign_all]["duplicate_events"] == 2
    # a duplicate changes only duplicate_events
    after[campaign_all] = {**after[campaign_all], "duplicate_events": 0}
    assert after == before


def test_same_event_id_on_other_topics_or_campaigns_is_not_a_duplicate() -> None:
    engine = engine_with()
    outcomes = feed(
        engine,
        interaction(event_id="x"),
        click(event_id="x"),
        post(event_id="x"),
        order(event_id="x"),
        review(event_id="x"),
        conversion(event_id="x"),
        answer(event_id="x"),
        interaction(event_id="x", campaign_id="c2"),
    )
    assert outcomes == ["counted"] * 8
    assert kpi(engine, "duplicate_events") == 0


def test_post_id_repeated_with_a_new_event_id_is_a_duplicate() -> None:
    engine = Engine()
    assert feed(engine, post(post_id="p1", followers=10, cost_minor=5),
                post(post_id="p1", followers=99, cost_minor=7,
                     t="2026-11-02T11:00:00Z")) == ["counted", "duplicate"]
    assert kpi(engine, "posts") == 1
    assert kpi(engine, "potential_reach") == 10
    assert kpi(engine, "spend_minor") == 5
    assert kpi(engine, "duplicate_events") == 1
    assert kpis(engine, window="1h", start="2026-11-02T11:00:00Z") is None


def test_order_id_repeated_with_a_new_event_id_is_a_duplicate() -> None:
    engine = Engine()
    assert feed(engine, order(order_id="o1", amount_minor=10),
                order(order_id="o1", amount_minor=50)) == ["counted", "duplicate"]
    assert kpi(engine, "orders") == 1
    assert kpi(engine, "revenue_minor") == 10
    assert kpi(engine, "duplicate_events") == 1


def test_order_id_of_an_out_of_window_order_is_taken() -> None:
    engine = engine_with(campaign(ends_at="2026-11-10T00:00:00Z", attribution_window_days=0))
    assert feed(engine, order("2026-11-20T00:00:00Z", order_id="o1"),
                order("2026-11-05T00:00:00Z", order_id="o1")) == ["counted", "duplicate"]
    assert kpi(engine, "orders_out_of_window") == 1
    assert kpi(engine, "orders") == 0


@pytest.mark.parametrize("topic", ["interactions", "clicks"])
@pytest.mark.parametrize(
    ("max_after", "expected"),
    [
        (0, "duplicate"),
        (5 * MINUTE, "duplicate"),
        (10 * MINUTE, "duplicate"),  # not older than the horizon before the max
        (10 * MINUTE + 1, "counted"),  # older than the horizon: counted again
        (HOUR, "counted"),
    ],
)
def test_bounded_horizon_dedup(topic: str, max_after: int, expected: str) -> None:
    make, counter = FEEDS[topic]
    original = make(at(T0), event_id="e1")
    engine = Engine()
    feed(engine, original)
    if max_after:
        feed(engine, make(at(T0, max_after)))
    assert feed(engine, original) == [expected]
    counted = 2 if max_after else 1
    assert kpi(engine, counter) == counted + (expected == "counted")
    assert kpi(engine, "duplicate_events") == (expected == "duplicate")


@pytest.mark.parametrize(
    "topic",
    ["posts", "orders", "order_refund", "content-reviews", "campaigns", "conversions", "surveys"],
)
def test_unbounded_horizon_dedup_holds_for_ever(topic: str) -> None:
    makers: dict[str, Callable[[int], AnyEvent]] = {
        "posts": lambda t: post(t, post_id=f"p{t}"),
        "orders": order,
        "order_refund": lambda t: refund(t, order_id="o-unknown"),
        "content-reviews": lambda t: review(t, reviewer_id=f"r{t}"),
        "campaigns": campaign,
        "conversions": conversion,
        "surveys": lambda t: answer(t, respondent_id=f"u{t}"),
    }
    make = makers[topic]
    original = dataclasses.replace(make(at(T0)), event_id="e1")
    engine = Engine()
    feed(engine, original)
    feed(engine, make(at(T0, 3 * HOUR)))  # well past 10 minutes, within the grace
    assert feed(engine, original) == ["duplicate"]
    assert kpi(engine, "duplicate_events") == 1


def test_duplicate_events_counts_every_ignored_record() -> None:
    a, b, c = interaction(), click(), post()
    engine = engine_with(a, b, c, a, b, c, a, post(post_id=c.post_id))
    assert kpi(engine, "duplicate_events") == 5
    assert kpi(engine, "likes") == 1
    assert kpi(engine, "clicks") == 1
    assert kpi(engine, "posts") == 1


def test_rejected_order_registers_nothing_and_its_copy_is_judged_afresh() -> None:
    engine = engine_with(campaign(currency="EUR"))
    wrong = order(event_id="e1", order_id="o1", currency="USD")
    before = snapshot_of(engine)
    for _ in range(2):
        with pytest.raises(InvalidRecord) as caught:
            engine.apply(Topic.ORDERS, wrong)
        assert caught.value.reason is Reason.CURRENCY_MISMATCH
    assert snapshot_of(engine) == before
    fixed = dataclasses.replace(wrong, currency="EUR")
    assert feed(engine, fixed) == ["counted"]
    assert kpi(engine, "orders") == 1
    assert kpi(engine, "duplicate_events") == 0


# -- lateness ----------------------------------------------------------------------------

LATE_T = "2026-11-02T20:00:00Z"


@pytest.mark.parametrize("topic", ["posts", "interactions", "clicks", "orders", "conversions"])
@pytest.mark.parametrize(
    ("behind", "late"),
    [
        (HOUR, False),
        (6 * HOUR, False),  # exactly the grace: not late
        (6 * HOUR + 1, True),
        (30 * HOUR, True),
    ],
)
def test_lateness_per_topic(topic: str, behind: int, late: bool) -> None:
    make, counter = FEEDS[topic]
    engine = engine_with(make(at(LATE_T)))
    t = at(LATE_T, -behind)
    outcome = feed(engine, make(t))
    assert outcome == ["late" if late else "counted"]
    assert kpi(engine, counter) == 2
    assert kpi(engine, "late_events") == int(late)
    attributed = topic not in ("orders", "conversions")  # unattributed: no influencer scope
    if attributed:
        assert kpi(engine, counter, "influencer", "i1") == 2
    windowed = [("campaign", "c1", w) for w in ("1d", "1h", "1m")]
    if attributed:
        windowed += [("influencer", "i1", w) for w in ("1d", "1h")]
    for scope, scope_id, window in windowed:
        values = kpis(engine, scope, scope_id, window, start=t)
        first_there = _same_window(window, t, at(LATE_T))
        expected = int(first_there) + (not late)
        if expected:
            assert values is not None
            assert values[counter] == expected, (scope, window)
        else:
            assert values is None or values[counter] == 0, (scope, window)


def _same_window(window: str, a: int, b: int) -> bool:
    size = {"1d": 86_400, "1h": 3_600, "1m": 60}[window] * 1_000_000
    return a // size == b // size


def test_late_review_counts_in_late_events_and_in_force() -> None:
    engine = engine_with(review(LATE_T, reviewer_id="r1"))
    assert feed(engine, review(at(LATE_T, -7 * HOUR), reviewer_id="r2",
                               scores={"tone": 2})) == ["late"]
    assert kpi(engine, "late_events") == 1
    assert kpi(engine, "reviews") == 2
    assert kpi(engine, "content_score_tone") == 3.0


def test_late_post_feeds_all_window_only() -> None:
    engine = engine_with(post(LATE_T, post_id="p1"))
    t = at(LATE_T, -7 * HOUR)
    feed(engine, post(t, post_id="p2", influencer_id="i2", followers=5, cost_minor=3))
    assert kpi(engine, "influencers_active") == 2
    assert kpi(engine, "potential_reach") == 1005
    assert kpi(engine, "posts", "post", "p2") == 1
    assert kpis(engine, "influencer", "i2", "1h", start=t) is None
    assert kpis(engine, window="1h", start=t) is None


def test_lateness_is_tracked_per_topic() -> None:
    engine = engine_with(interaction(LATE_T))
    early = at(LATE_T, -20 * HOUR)
    assert feed(
        engine, click(early), post(early), order(early), review(early), conversion(early),
        answer(early),
    ) == ["counted"] * 6
    assert kpi(engine, "late_events") == 0


def test_lateness_is_tracked_per_campaign() -> None:
    engine = engine_with(interaction(LATE_T, campaign_id="c2"))
    assert feed(engine, interaction(at(LATE_T, -20 * HOUR))) == ["counted"]


@pytest.mark.parametrize("behind", [7 * HOUR, 100 * HOUR])
def test_campaign_definitions_are_never_late(behind: int) -> None:
    engine = engine_with(campaign(LATE_T, objective="awareness"))
    assert feed(engine, campaign(at(LATE_T, -behind), objective="conversion")) == ["counted"]
    assert kpi(engine, "late_events") == 0
    assert kpi(engine, "objective") == "awareness"


def test_duplicates_do_not_raise_the_lateness_reference() -> None:
    engine = engine_with(post(LATE_T, post_id="p1"))
    assert feed(engine, post(at(LATE_T, 3 * HOUR), post_id="p1")) == ["duplicate"]
    # max is still 20:00, so 6.5 h before the duplicate's time is not late
    assert feed(engine, post(at(LATE_T, -3 * HOUR - 30 * MINUTE), post_id="p2")) == ["counted"]


def test_rejected_records_do_not_raise_the_lateness_reference() -> None:
    engine = engine_with(campaign(currency="EUR"), order(LATE_T))
    with pytest.raises(InvalidRecord):
        engine.apply(Topic.ORDERS, order(at(LATE_T, 10 * HOUR), currency="USD"))
    assert feed(engine, order(at(LATE_T, -5 * HOUR))) == ["counted"]


def test_out_of_window_orders_raise_the_lateness_reference() -> None:
    engine = engine_with(
        campaign(ends_at="2026-11-10T00:00:00Z", attribution_window_days=0),
        order("2026-11-20T20:00:00Z"),
    )
    assert kpi(engine, "orders_out_of_window") == 1
    assert feed(engine, order("2026-11-09T10:00:00Z")) == ["late"]
    assert kpi(engine, "orders") == 1
    assert kpi(engine, "late_events") == 1
    assert kpis(engine, window="1h", start="2026-11-09T10:00:00Z") is None


def test_replaced_reviews_raise_the_lateness_reference() -> None:
    engine = engine_with(
        review(LATE_T, reviewer_id="r1"),
        review(at(LATE_T, HOUR), reviewer_id="r1"),  # replaces the first
    )
    assert feed(engine, review(at(LATE_T, -5 * HOUR - 30 * MINUTE), reviewer_id="r2")) == ["late"]


def test_late_events_are_not_duplicates_and_vice_versa() -> None:
    old = interaction(at(LATE_T, -7 * HOUR))
    engine = engine_with(interaction(LATE_T))
    assert feed(engine, old) == ["late"]
    # the copy arrives; the first copy is older than the horizon before the max: counted again
    assert feed(engine, old) == ["late"]
    assert kpi(engine, "late_events") == 2
    assert kpi(engine, "duplicate_events") == 0
    assert kpi(engine, "likes") == 3


def test_topic_of_helper_is_consistent() -> None:
    assert topic_of(interaction()) == "interactions"


@pytest.mark.parametrize(
    ("copy_at_s", "expected"),
    [(720, "duplicate"), (600, "duplicate"), (599, "counted"), (1199, "duplicate")],
)
def test_horizon_holds_over_thousands_of_ids(copy_at_s: int, expected: str) -> None:
    # 2400 interactions, one every half second over 20 minutes: max = T0 + 1199.5 s
    events = [interaction(at(T0, i * SEC // 2), event_id=f"n{i}") for i in range(2400)]
    engine = engine_with(*events)
    copy = events[copy_at_s * 2]
    # a duplicate while the first copy is not older than max - 10 min = T0 + 599.5 s
    assert feed(engine, copy) == [expected]


def test_a_late_click_is_never_a_repeat() -> None:
    # v2 (1.5): the second late click follows a valid one of the same visitor and link by a
    # minute, yet it is valid, being late.
    engine = engine_with(click(LATE_T))
    old = at(LATE_T, -7 * HOUR)
    assert feed(engine, click(old, visitor_id="v"), click(old + MINUTE, visitor_id="v")) == [
        "late", "late"
    ]
    assert kpi(engine, "clicks_repeat") == 0
    assert kpi(engine, "clicks_valid") == 3
    assert kpi(engine, "late_events") == 2


def test_a_late_valid_click_still_makes_a_later_on_time_click_a_repeat() -> None:
    # Contract 3, bounded state: "a late valid click can still make a later on-time click a
    # repeat while it is that recent". Max 20:00: 13:50 is late (6 h 10 behind), 14:10 is
    # not (5 h 50), and 13:50 lies in (13:40, 14:10].
    engine = engine_with(click(LATE_T))
    assert feed(
        engine,
        click(at(LATE_T, -6 * HOUR - 10 * MINUTE), visitor_id="v"),
        click(at(LATE_T, -5 * HOUR - 50 * MINUTE), visitor_id="v"),
    ) == ["late", "counted"]
    assert kpi(engine, "clicks_valid") == 2
    assert kpi(engine, "clicks_repeat") == 1
    assert kpi(engine, "clicks_repeat", window="1h", start=at(LATE_T, -6 * HOUR)) == 1


def test_a_late_bot_click_is_still_a_bot() -> None:
    engine = engine_with(click(LATE_T))
    assert feed(engine, click(at(LATE_T, -7 * HOUR), user_agent="curl/8")) == ["late"]
    assert kpi(engine, "clicks_bot") == 1
