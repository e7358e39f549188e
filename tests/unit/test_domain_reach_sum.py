"""``reach_sum`` (contract 2, v2): the sum over posts of their post-scope reach."""

from __future__ import annotations

from streams.domain.events import Interaction

from .kpi_factories import (
    T0,
    changed,
    engine_with,
    feed,
    interaction,
    kpi,
    kpis,
    post,
    snapshot,
)


def viewers(post_id: str, *ids: str, influencer_id: str = "i1") -> list[Interaction]:
    return [
        interaction(action="impression", post_id=post_id, viewer_id=v, influencer_id=influencer_id)
        for v in ids
    ]


def test_campaign_reach_sum_adds_post_reaches_where_reach_counts_people_once() -> None:
    # a on p1 and p2: reach 3 people, reach_sum 2 + 2 (an upper bound: a counts twice)
    engine = engine_with(
        post(post_id="p1", influencer_id="i1"),
        post(post_id="p2", influencer_id="i2"),
        *viewers("p1", "a", "b"),
        *viewers("p2", "a", "c", influencer_id="i2"),
    )
    assert kpi(engine, "reach") == 3
    assert kpi(engine, "reach_sum") == 4
    assert kpi(engine, "reach_sum", "influencer", "i1") == 2
    assert kpi(engine, "reach_sum", "influencer", "i2") == 2
    assert kpi(engine, "engagement_rate_by_reach_sum") == 0.0


def test_campaign_reach_sum_counts_posts_whose_post_published_was_not_counted() -> None:
    engine = engine_with(*viewers("p9", "a", "b", "c"))
    assert kpi(engine, "reach_sum") == 3
    # no counted post_published names i1 as p9's author
    assert kpi(engine, "reach_sum", "influencer", "i1") == 0


def test_influencer_reach_sum_follows_the_influencer_of_the_post_published() -> None:
    # The interactions name i3; the post_published names i1: p1 counts for i1 only.
    engine = engine_with(
        post(post_id="p1", influencer_id="i1"),
        *viewers("p1", "a", "b", influencer_id="i3"),
    )
    assert kpi(engine, "reach_sum", "influencer", "i1") == 2
    assert kpi(engine, "reach_sum", "influencer", "i3") == 0
    assert kpi(engine, "reach", "influencer", "i3") == 2
    assert kpi(engine, "reach", "influencer", "i1") == 0


def test_a_post_published_after_the_interactions_brings_their_reach_to_its_influencer() -> None:
    engine = engine_with(*viewers("p1", "a", "b"))
    assert kpi(engine, "reach_sum", "influencer", "i1") == 0
    changed(engine)
    feed(engine, post(post_id="p1", influencer_id="i1"))
    written = {(s.scope, s.scope_id, s.window): s.kpis for s in changed(engine)}
    assert written["influencer", "i1", "all"]["reach_sum"] == 2
    assert kpi(engine, "reach_sum") == 2  # unchanged: p1 was already in the campaign's sum
    feed(engine, *viewers("p1", "c"))
    assert kpi(engine, "reach_sum", "influencer", "i1") == 3
    assert kpi(engine, "reach_sum") == 3


def test_a_duplicate_post_published_naming_another_influencer_moves_nothing() -> None:
    engine = engine_with(post(post_id="p1", influencer_id="i1"), *viewers("p1", "a"))
    assert feed(engine, post(post_id="p1", influencer_id="i2")) == ["duplicate"]
    assert kpi(engine, "reach_sum", "influencer", "i1") == 1
    assert kpis(engine, "influencer", "i2") is None


def test_platform_reach_enters_reach_sum_and_follows_the_reach_in_force() -> None:
    engine = engine_with(
        post(post_id="p1", influencer_id="i1"),
        snapshot(post_id="p1", reach=500),
        *viewers("p2", "a", "b"),
    )
    assert kpi(engine, "reach_sum") == 502
    assert kpi(engine, "reach_sum", "influencer", "i1") == 500
    assert kpi(engine, "reach") == 2  # platform reach never enters distinct viewers
    feed(engine, snapshot("2026-11-02T11:00:00Z", post_id="p1", reach=420))
    assert kpi(engine, "reach_sum") == 422
    assert kpi(engine, "reach_sum", "influencer", "i1") == 420


def test_a_snapshot_without_reach_adds_nothing_to_reach_sum() -> None:
    engine = engine_with(post(post_id="p1"), snapshot(post_id="p1", likes=3))
    assert kpi(engine, "reach_sum") == 0
    assert kpi(engine, "reach", "post", "p1") == 0


def test_reach_sum_is_window_all_only() -> None:
    engine = engine_with(post(), *viewers("p1", "a"))
    for scope, sid, window in (("campaign", None, "1d"), ("campaign", None, "1h"),
                               ("influencer", "i1", "1h"), ("campaign", None, "1m")):
        values = kpis(engine, scope, sid, window, start=T0)
        assert values is not None
        assert "reach_sum" not in values
        assert "engagement_rate_by_reach_sum" not in values
    values = kpis(engine, "post", "p1")
    assert values is not None
    assert "reach_sum" not in values
