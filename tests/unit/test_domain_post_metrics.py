"""Platform snapshots (contract 1.4.1, v2): source of a post, snapshot in force, deltas."""

from __future__ import annotations

import dataclasses

import pytest

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.events import AnyEvent
from streams.domain.vocabulary import Topic

from .kpi_factories import (
    HOUR,
    MINUTE,
    T0,
    at,
    changed,
    click,
    engine_with,
    feed,
    interaction,
    kpi,
    kpis,
    post,
    review,
    secs,
    snapshot,
    snapshot_of,
)

LATE_T = "2026-11-02T20:00:00Z"
H10 = "2026-11-02T10:05:00Z"
H11 = "2026-11-02T11:05:00Z"
H12 = "2026-11-02T12:05:00Z"


def rejected(engine: Engine, event: AnyEvent) -> Reason:
    with pytest.raises(InvalidRecord) as caught:
        engine.apply(Topic.INTERACTIONS, event)
    return caught.value.reason


# -- source of a post --------------------------------------------------------------------


def test_interaction_first_fixes_events_and_a_later_snapshot_is_a_source_mismatch() -> None:
    engine = engine_with(interaction(action="like"))
    before = snapshot_of(engine)
    assert rejected(engine, snapshot(likes=9)) is Reason.SOURCE_MISMATCH
    assert snapshot_of(engine) == before
    assert kpi(engine, "metrics_source", "post", "p1") == "events"


def test_snapshot_first_fixes_platform_and_a_later_interaction_is_a_source_mismatch() -> None:
    engine = engine_with(snapshot(likes=9))
    before = snapshot_of(engine)
    assert rejected(engine, interaction(action="like")) is Reason.SOURCE_MISMATCH
    assert snapshot_of(engine) == before
    assert kpi(engine, "metrics_source", "post", "p1") == "platform"
    assert kpi(engine, "likes", "post", "p1") == 9


def test_source_is_per_campaign_and_post() -> None:
    engine = engine_with(snapshot(post_id="p1", likes=1))
    assert feed(
        engine,
        interaction(post_id="p2"),
        interaction(post_id="p1", campaign_id="c2"),
        snapshot(post_id="p1", likes=2),
    ) == ["counted"] * 3
    assert kpi(engine, "metrics_source", "post", "p2") == "events"
    assert kpi(engine, "metrics_source", "post", "p1") == "platform"


@pytest.mark.parametrize(
    "other",
    [
        post(post_id="p1"),
        click(post_id="p1"),
        review(post_id="p1"),
    ],
    ids=["post_published", "click", "content_review"],
)
def test_only_interactions_and_snapshots_fix_the_source(other: AnyEvent) -> None:
    engine = engine_with(other)
    assert feed(engine, snapshot(likes=4), snapshot(at(T0, MINUTE), likes=5)) == ["counted"] * 2
    assert kpi(engine, "metrics_source", "post", "p1") == "platform"
    engine = engine_with(other, interaction())
    assert kpi(engine, "metrics_source", "post", "p1") == "events"


def test_a_post_without_interactions_or_snapshots_has_no_metrics_source() -> None:
    engine = engine_with(post(), click(post_id="p1"))
    values = kpis(engine, "post", "p1")
    assert values is not None
    assert "metrics_source" not in values


def test_duplicate_check_comes_before_the_source_check() -> None:
    # Contract 4: only a record that is not a duplicate is checked for source_mismatch.
    # Both kinds travel on `interactions`, so an event id counted by an interaction makes a
    # snapshot with that id a duplicate, whatever its kind.
    engine = engine_with(interaction(event_id="e1", action="like"))
    assert feed(engine, snapshot(event_id="e1", likes=50)) == ["duplicate"]
    assert kpi(engine, "duplicate_events") == 1
    assert kpi(engine, "likes") == 1


def test_a_rejected_snapshot_registers_nothing_and_its_copy_is_judged_afresh() -> None:
    engine = engine_with(interaction(LATE_T, post_id="p1"))
    wrong = snapshot(at(LATE_T, 5 * HOUR), event_id="s1", post_id="p1", likes=3)
    for _ in range(2):
        assert rejected(engine, wrong) is Reason.SOURCE_MISMATCH
    assert kpi(engine, "duplicate_events") == 0
    # it did not raise the lateness reference: 20:00 - 5 h 30 is not late
    assert feed(engine, interaction(at(LATE_T, -5 * HOUR - 30 * MINUTE))) == ["counted"]
    # the same event id on another post is counted: the rejected copy registered nothing
    assert feed(engine, dataclasses.replace(wrong, post_id="p9")) == ["counted"]


# -- snapshot in force -------------------------------------------------------------------


def test_a_snapshot_replaces_the_lifetime_values_and_counts_deltas() -> None:
    engine = engine_with(
        snapshot(H10, impressions=100, views=40, likes=10, comments=2, shares=1, saves=3,
                 replies=4, reach=80),
        snapshot(H11, impressions=150, views=60, likes=12, comments=2, shares=2, saves=3,
                 replies=5, reach=90),
    )
    post_all = kpis(engine, "post", "p1")
    assert post_all is not None
    expected = {"impressions": 150, "views": 60, "likes": 12, "comments": 2, "shares": 2,
                "saves": 3, "replies": 5, "reach": 90, "engagements": 12 + 2 + 2 + 3 + 5}
    assert {name: post_all[name] for name in expected} == expected
    for scope, sid in (("campaign", None), ("influencer", "i1")):
        assert kpi(engine, "impressions", scope, sid) == 150
        assert kpi(engine, "engagements", scope, sid) == 24
    # the 11:00 windows hold the deltas of the second snapshot
    hour = kpis(engine, window="1h", start=H11)
    assert hour is not None
    assert {name: hour[name] for name in ("impressions", "views", "likes", "comments",
                                          "shares", "saves", "replies", "engagements")} == {
        "impressions": 50, "views": 20, "likes": 2, "comments": 0, "shares": 1, "saves": 0,
        "replies": 1, "engagements": 4,
    }
    assert kpi(engine, "likes", "influencer", "i1", "1h", start=H10) == 10
    assert kpi(engine, "likes", window="1m", start=H11) == 2
    assert kpi(engine, "likes", window="1d", start=H10) == 12


def test_a_metric_the_snapshot_does_not_carry_keeps_its_value() -> None:
    engine = engine_with(
        snapshot(H10, likes=10, views=100),
        snapshot(H11, likes=12),
        snapshot(H12, views=130),
    )
    assert kpi(engine, "likes", "post", "p1") == 12
    assert kpi(engine, "views", "post", "p1") == 130
    assert kpi(engine, "views", window="1h", start=H11) == 0
    assert kpi(engine, "likes", window="1h", start=H12) == 0
    assert kpi(engine, "views", window="1h", start=H12) == 30


def test_a_metric_never_reported_is_zero() -> None:
    engine = engine_with(snapshot(H10, reach=10))
    values = kpis(engine, "post", "p1")
    assert values is not None
    assert (values["likes"], values["impressions"], values["engagements"]) == (0, 0, 0)


def test_negative_deltas_make_window_counters_negative() -> None:
    # unlikes / platform corrections: 10 likes at 10:05, 7 at 11:05
    engine = engine_with(snapshot(H10, likes=10, impressions=100),
                         snapshot(H11, likes=7, impressions=100))
    assert kpi(engine, "likes", window="1h", start=H11) == -3
    assert kpi(engine, "engagements", window="1h", start=H11) == -3
    assert kpi(engine, "likes", window="1m", start=H11) == -3
    assert kpi(engine, "likes", "influencer", "i1", "1h", start=H11) == -3
    assert kpi(engine, "likes", window="1d", start=H10) == 7
    assert kpi(engine, "likes") == 7
    assert kpi(engine, "likes", "post", "p1") == 7


def test_a_snapshot_with_only_zero_deltas_still_touches_its_sets() -> None:
    engine = engine_with(snapshot(H10, likes=10))
    changed(engine)
    feed(engine, snapshot(H12, likes=10))
    touched = {(s.scope, s.scope_id, s.window, s.window_start) for s in changed(engine)}
    hour, day = secs("2026-11-02T12:00:00Z"), secs("2026-11-02T00:00:00Z")
    assert touched == {
        ("campaign", "c1", "all", None),
        ("campaign", "c1", "1d", day),
        ("campaign", "c1", "1h", hour),
        ("campaign", "c1", "1m", hour + 300),
        ("influencer", "i1", "all", None),
        ("influencer", "i1", "1d", day),
        ("influencer", "i1", "1h", hour),
        ("post", "p1", "all", None),
    }
    values = kpis(engine, window="1h", start=H12)
    assert values is not None
    assert (values["likes"], values["engagements"], values["posts"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("second_at", "in_force", "stale"),
    [
        (H11, 20, 0),  # newer: in force
        (H10, 20, 0),  # a tie: the one processed last is in force
        ("2026-11-02T10:04:59.999999Z", 10, 1),  # older: stale
    ],
)
def test_snapshot_in_force_ties_and_stale(second_at: str, in_force: int, stale: int) -> None:
    engine = engine_with(snapshot(H10, likes=10))
    assert feed(engine, snapshot(second_at, likes=20)) == ["counted"]
    assert kpi(engine, "likes", "post", "p1") == in_force
    assert kpi(engine, "likes") == in_force
    assert kpi(engine, "stale_snapshots") == stale


def test_a_stale_snapshot_touches_only_the_campaign_all_set() -> None:
    engine = engine_with(snapshot(H11, likes=10, reach=5))
    changed(engine)
    assert feed(engine, snapshot(H10, likes=99, reach=99)) == ["counted"]
    written = changed(engine)
    assert [(s.scope, s.window) for s in written] == [("campaign", "all")]
    assert written[0].kpis["stale_snapshots"] == 1
    assert kpi(engine, "likes", "post", "p1") == 10
    assert kpi(engine, "reach", "post", "p1") == 5
    assert kpis(engine, window="1h", start=H10) is None


def test_a_stale_snapshot_registers_its_event_id() -> None:
    # Contract 1.4.1: like any counted record, a stale one registers its event_id (and its
    # copy within the 10-minute horizon is a duplicate).
    engine = engine_with(snapshot(H11, post_id="p1", likes=1))
    stale = snapshot(at(H11, -5 * MINUTE), event_id="s-stale", post_id="p1", likes=2)
    assert feed(engine, stale, stale) == ["counted", "duplicate"]
    assert kpi(engine, "stale_snapshots") == 1
    assert kpi(engine, "duplicate_events") == 1
    assert kpi(engine, "likes") == 1


def test_an_older_snapshot_after_a_newer_one_stays_stale_when_the_newer_repeats_values() -> None:
    engine = engine_with(snapshot(H12, likes=5), snapshot(H10, likes=50), snapshot(H11, likes=7))
    assert kpi(engine, "likes", "post", "p1") == 5
    assert kpi(engine, "stale_snapshots") == 2


# -- late snapshots ----------------------------------------------------------------------


def test_a_late_snapshot_counts_in_window_all_only() -> None:
    engine = engine_with(interaction(LATE_T, post_id="p0", influencer_id="i0"))
    old = at(LATE_T, -7 * HOUR)
    assert feed(engine, snapshot(old, post_id="p1", likes=4, impressions=10)) == ["late"]
    assert kpi(engine, "late_events") == 1
    assert kpi(engine, "likes", "post", "p1") == 4
    assert kpi(engine, "likes", "influencer", "i1") == 4
    assert kpi(engine, "impressions") == 10
    assert kpis(engine, window="1h", start=old) is None
    # 13:00 and 20:00 share a day: that window holds the on-time like, not the late deltas
    assert kpi(engine, "likes", window="1d", start=old) == 1
    assert kpis(engine, "influencer", "i1", "1d", start=old) is None


def test_a_late_stale_snapshot_counts_as_stale_and_late_and_changes_no_metric() -> None:
    engine = engine_with(snapshot(LATE_T, likes=10))
    assert feed(engine, snapshot(at(LATE_T, -7 * HOUR), likes=1)) == ["late"]
    assert kpi(engine, "stale_snapshots") == 1
    assert kpi(engine, "late_events") == 1
    assert kpi(engine, "likes") == 10


def test_snapshots_share_the_lateness_reference_of_interactions() -> None:
    engine = engine_with(interaction(LATE_T, post_id="p0"))
    assert feed(engine, snapshot(at(LATE_T, -6 * HOUR), post_id="p1", likes=1)) == ["counted"]
    engine = engine_with(snapshot(LATE_T, post_id="p0", likes=1))
    assert feed(engine, interaction(at(LATE_T, -6 * HOUR - 1), post_id="p1")) == ["late"]


# -- influencers and reach ---------------------------------------------------------------


def test_records_naming_another_influencer_count_in_the_scopes_they_name() -> None:
    engine = engine_with(
        snapshot(H10, influencer_id="i1", likes=10),
        snapshot(H11, influencer_id="i2", likes=15),
    )
    assert kpi(engine, "likes", "influencer", "i1") == 10
    assert kpi(engine, "likes", "influencer", "i2") == 5
    assert kpi(engine, "likes") == 15
    assert kpi(engine, "likes", "post", "p1") == 15


def test_platform_reach_is_post_scope_only() -> None:
    engine = engine_with(
        snapshot(H10, post_id="p1", reach=500, impressions=800, likes=20),
        interaction(post_id="p2", action="impression", viewer_id="a"),
    )
    assert kpi(engine, "reach", "post", "p1") == 500
    assert kpi(engine, "frequency", "post", "p1") == 800 / 500
    assert kpi(engine, "engagement_rate_by_reach", "post", "p1") == 20 / 500
    # campaign and influencer reach stay the distinct viewers of interactions
    assert kpi(engine, "reach") == 1
    assert kpi(engine, "reach", "influencer", "i1") == 1
    assert kpi(engine, "reach", window="1h", start=H10) == 1


def test_platform_reach_in_force_may_go_down() -> None:
    engine = engine_with(snapshot(H10, reach=500), snapshot(H11, reach=450))
    assert kpi(engine, "reach", "post", "p1") == 450
    assert kpi(engine, "reach_sum") == 450
