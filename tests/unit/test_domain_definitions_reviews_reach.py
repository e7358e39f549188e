"""Campaign definitions (1.2), reviews in force (1.7), reach (2) and changed sets (5)."""

from __future__ import annotations

import pytest

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.vocabulary import Topic

from .kpi_factories import (
    HOUR,
    T0,
    at,
    campaign,
    changed,
    engine_with,
    feed,
    interaction,
    kpi,
    kpis,
    order,
    post,
    review,
    secs,
    sets,
)

# -- campaign definitions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("second_at", "in_force"),
    [
        ("2026-11-01T01:00:00Z", "conversion"),  # newer replaces
        ("2026-11-01T00:00:00Z", "conversion"),  # same time: not older, replaces
        ("2026-10-31T23:59:59.999999Z", "awareness"),  # older does not
    ],
)
def test_newer_definition_replaces(second_at: str, in_force: str) -> None:
    engine = engine_with(
        campaign("2026-11-01T00:00:00Z", objective="awareness", budget_minor=1000),
        post(cost_minor=100),
    )
    assert feed(engine, campaign(second_at, objective="conversion", budget_minor=200)) == [
        "counted"
    ]
    assert kpi(engine, "objective") == in_force
    assert kpi(engine, "budget_used") == (100 / 200 if in_force == "conversion" else 0.1)


def test_replacement_is_judged_against_the_definition_in_force() -> None:
    engine = engine_with(
        campaign("2026-11-01T02:00:00Z", objective="awareness"),
        campaign("2026-11-01T01:00:00Z", objective="engagement"),  # older: ignored
        campaign("2026-11-01T01:30:00Z", objective="conversion"),  # still older than 02:00
    )
    assert kpi(engine, "objective") == "awareness"


@pytest.mark.parametrize("second_at", ["2026-11-01T01:00:00Z", "2026-10-31T00:00:00Z"])
def test_currency_change_is_rejected(second_at: str) -> None:
    engine = engine_with(campaign("2026-11-01T00:00:00Z", currency="EUR", objective="awareness"))
    with pytest.raises(InvalidRecord) as caught:
        engine.apply(Topic.CAMPAIGNS, campaign(second_at, currency="USD", objective="conversion"))
    assert caught.value.reason is Reason.CURRENCY_MISMATCH
    assert kpi(engine, "objective") == "awareness"
    assert kpi(engine, "duplicate_events") == 0
    # the campaign keeps its currency: an order in EUR is fine, in USD is not
    feed(engine, order(currency="EUR"))
    assert kpi(engine, "orders") == 1


def test_definition_alone_creates_the_campaign_set() -> None:
    engine = engine_with(campaign(objective="engagement", budget_minor=50))
    values = kpis(engine)
    assert values is not None
    assert values["objective"] == "engagement"
    assert values["budget_used"] == 0.0
    assert values["posts"] == 0


# -- reviews -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "tone"),
    [
        (("2026-11-02T10:00:00Z", 2), ("2026-11-02T11:00:00Z", 4), 4.0),  # newer replaces
        (("2026-11-02T11:00:00Z", 4), ("2026-11-02T10:00:00Z", 2), 4.0),  # older does not
        (("2026-11-02T10:00:00Z", 2), ("2026-11-02T10:00:00Z", 5), 5.0),  # tie: last wins
        (("2026-11-02T10:00:00Z", 5), ("2026-11-02T10:00:00Z", 2), 2.0),
    ],
)
def test_review_in_force(
    first: tuple[str, int], second: tuple[str, int], tone: float
) -> None:
    engine = engine_with(
        review(first[0], reviewer_id="r1", scores={"tone": first[1]}),
        review(second[0], reviewer_id="r1", scores={"tone": second[1]}),
    )
    for scope, sid in (("campaign", None), ("influencer", "i1"), ("post", "p1")):
        assert kpi(engine, "reviews", scope, sid) == 1
        assert kpi(engine, "content_score_tone", scope, sid) == tone
        assert kpi(engine, "content_score", scope, sid) == tone


def test_replacing_review_drops_the_old_criteria() -> None:
    engine = engine_with(
        review("2026-11-02T10:00:00Z", reviewer_id="r1", scores={"tone": 1, "brand_fit": 1}),
        review("2026-11-02T10:00:00Z", reviewer_id="r2", scores={"tone": 5}),
        review("2026-11-02T11:00:00Z", reviewer_id="r1", scores={"creativity": 3}),
    )
    assert kpi(engine, "reviews") == 2
    assert kpi(engine, "content_score_brand_fit") is None
    assert kpi(engine, "content_score_tone") == 5.0
    assert kpi(engine, "content_score_creativity") == 3.0
    assert kpi(engine, "content_score") == 4.0


def test_reviews_per_post_and_reviewer() -> None:
    engine = engine_with(
        review(post_id="p1", reviewer_id="r1", scores={"tone": 1}),
        review(post_id="p1", reviewer_id="r2", scores={"tone": 2}),
        review(post_id="p2", reviewer_id="r1", scores={"tone": 3}),
    )
    assert kpi(engine, "reviews") == 3
    assert kpi(engine, "reviews", "post", "p1") == 2
    assert kpi(engine, "content_score_tone") == 2.0
    assert kpi(engine, "content_score_tone", "post", "p1") == 1.5


def test_reviews_only_in_window_all() -> None:
    engine = engine_with(review())
    for window in ("1d", "1h", "1m"):
        values = kpis(engine, window=window, start=T0)
        assert values is None or "reviews" not in values


def test_review_of_every_criterion() -> None:
    scores = {"brand_fit": 1, "tone": 2, "storytelling": 3, "creativity": 4,
              "reusability": 5, "compliance": 3}
    engine = engine_with(review(scores=scores))
    assert kpi(engine, "content_score") == 18 / 6
    for criterion, score in scores.items():
        assert kpi(engine, f"content_score_{criterion}") == float(score)


# -- reach -------------------------------------------------------------------------------


@pytest.mark.parametrize("distinct", [0, 1, 2, 50, 99])
def test_reach_is_exact_below_100(distinct: int) -> None:
    events = []
    for i in range(distinct):
        events.append(interaction(action="impression", viewer_id=f"viewer-{i}"))
        events.append(interaction(action="view", viewer_id=f"viewer-{i}"))
    events.append(interaction(action="impression"))  # no viewer id
    engine = engine_with(*events)
    for scope, sid, window in (
        ("campaign", None, "all"), ("campaign", None, "1d"), ("campaign", None, "1h"),
        ("influencer", "i1", "all"), ("influencer", "i1", "1d"), ("influencer", "i1", "1h"),
        ("post", "p1", "all"),
    ):
        start = None if window == "all" else T0
        assert kpi(engine, "reach", scope, sid, window, start=start) == distinct
    values = kpis(engine, window="1m", start=T0)
    assert values is not None
    assert "reach" not in values
    assert "frequency" not in values
    assert "engagement_rate_by_reach" not in values


@pytest.mark.parametrize("action", ["like", "comment", "share", "save", "reply"])
def test_only_impressions_and_views_reach(action: str) -> None:
    engine = engine_with(
        interaction(action=action, viewer_id="a"),
        interaction(action="impression", viewer_id="b"),
    )
    assert kpi(engine, "reach") == 1


def test_reach_is_distinct_per_window() -> None:
    engine = engine_with(
        interaction("2026-11-02T10:05:00Z", action="impression", viewer_id="a"),
        interaction("2026-11-02T10:06:00Z", action="view", viewer_id="b"),
        interaction("2026-11-02T11:05:00Z", action="impression", viewer_id="a"),
        interaction("2026-11-02T11:06:00Z", action="impression", viewer_id="c",
                    post_id="p2", influencer_id="i2"),
    )
    assert kpi(engine, "reach", window="1h", start="2026-11-02T10:00:00Z") == 2
    assert kpi(engine, "reach", window="1h", start="2026-11-02T11:00:00Z") == 2
    assert kpi(engine, "reach", window="1d", start=T0) == 3
    assert kpi(engine, "reach") == 3
    assert kpi(engine, "reach", "influencer", "i1") == 2
    assert kpi(engine, "reach", "post", "p2") == 1


def test_late_viewer_reaches_window_all_only() -> None:
    engine = engine_with(
        interaction("2026-11-02T20:00:00Z", action="impression", viewer_id="a"),
        interaction(at("2026-11-02T20:00:00Z", -7 * HOUR), action="impression", viewer_id="b"),
    )
    assert kpi(engine, "reach") == 2
    assert kpi(engine, "reach", window="1d", start=T0) == 1


# -- changed sets ------------------------------------------------------------------------


def test_changed_sets_once_then_nothing() -> None:
    engine = engine_with(post(), interaction(action="impression", viewer_id="v"))
    first = changed(engine)
    keys = [s.key for s in first]
    assert len(keys) == len(set(keys))
    assert set(keys) == {s.key for s in engine.all_sets()}
    assert {s.key: s.kpis for s in first} == {s.key: s.kpis for s in engine.all_sets()}
    assert changed(engine) == []
    assert changed(engine) == []


def test_changed_sets_after_an_event_holds_the_sets_it_touched() -> None:
    engine = engine_with(post(post_id="p1"), interaction(post_id="p1"))
    changed(engine)
    feed(engine, interaction("2026-11-02T11:05:00Z", post_id="p2", influencer_id="i2"))
    touched = {(s.scope, s.scope_id, s.window, s.window_start) for s in changed(engine)}
    hour = secs("2026-11-02T11:00:00Z")
    assert ("campaign", "c1", "all", None) in touched
    assert ("campaign", "c1", "1h", hour) in touched
    assert ("campaign", "c1", "1m", hour + 300) in touched
    assert ("influencer", "i2", "all", None) in touched
    assert ("influencer", "i2", "1h", hour) in touched
    assert ("post", "p2", "all", None) in touched
    assert ("post", "p1", "all", None) not in touched
    assert ("influencer", "i1", "all", None) not in touched
    assert ("campaign", "c1", "1h", hour - 3_600) not in touched
    assert changed(engine) == []


def test_a_duplicate_changes_the_campaign_set_only() -> None:
    event = interaction()
    engine = engine_with(event)
    changed(engine)
    feed(engine, event)
    written = changed(engine)
    assert [(s.scope, s.window) for s in written] == [("campaign", "all")]
    assert written[0].kpis["duplicate_events"] == 1


def test_changed_sets_carry_absolute_values() -> None:
    engine = engine_with(interaction(action="like"))
    changed(engine)
    feed(engine, interaction(action="like"))
    by_key = {(s.scope, s.window): s.kpis for s in changed(engine)}
    assert by_key[("campaign", "all")]["likes"] == 2


def test_changed_sets_span_campaigns() -> None:
    engine = Engine()
    feed(engine, interaction(campaign_id="a"), interaction(campaign_id="b"))
    assert {s.campaign_id for s in changed(engine)} == {"a", "b"}
    assert all(s.kpis["likes"] == 1 for s in sets(engine).values())


def test_review_counts_with_the_influencer_of_the_review_in_force() -> None:
    engine = engine_with(
        review("2026-11-02T10:00:00Z", influencer_id="i1", scores={"tone": 2}),
        review("2026-11-02T11:00:00Z", influencer_id="i2", scores={"tone": 4}),
    )
    assert kpi(engine, "reviews", "influencer", "i1") == 0
    assert kpi(engine, "content_score", "influencer", "i1") is None
    assert kpi(engine, "reviews", "influencer", "i2") == 1
    assert kpi(engine, "content_score", "influencer", "i2") == 4.0


def test_rejected_definition_changes_no_set() -> None:
    engine = engine_with(campaign(currency="EUR"), post())
    changed(engine)
    with pytest.raises(InvalidRecord):
        engine.apply(Topic.CAMPAIGNS, campaign("2026-11-01T05:00:00Z", currency="GBP"))
    assert changed(engine) == []
