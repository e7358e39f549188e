"""KPI presence and formulas of contract section 2, derived from its tables."""

from __future__ import annotations

import math

import pytest

from streams.domain.engine import Engine
from streams.domain.events import AnyEvent

from .kpi_factories import (
    T0,
    answer,
    campaign,
    click,
    conversion,
    engine_with,
    interaction,
    kpi,
    kpis,
    order,
    post,
    refund,
    review,
    roster_entry,
    secs,
)

CRITERIA = ("brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance")
CAMPAIGN_WINDOWS = ("all", "1d", "1h", "1m")
INFLUENCER_WINDOWS = ("all", "1d", "1h")

# (scope, window) pairs the contract defines, each with the KPI set the rich scenario fills.
PLACES = [
    *(("campaign", w) for w in CAMPAIGN_WINDOWS),
    *(("influencer", w) for w in INFLUENCER_WINDOWS),
    ("post", "all"),
]

EVERYWHERE = {
    "posts", "impressions", "views", "likes", "comments", "shares", "saves", "replies",
    "engagements", "clicks", "clicks_valid", "clicks_bot", "clicks_repeat",
}


def expected_counters(scope: str, window: str) -> set[str]:
    """Counter table of section 2, column "where", read literally."""
    names = set(EVERYWHERE)
    if scope == "campaign":
        names |= {"influencers_active", "orders_unattributed", "conversions_unattributed"}
    if window == "all":
        names |= {"potential_reach", "spend_minor", "reviews"}
    if window != "1m":
        names.add("reach")
    if scope in ("campaign", "influencer"):
        names |= {"orders", "orders_code", "orders_link", "revenue_minor"}
        names |= {"refunds", "refunded_minor", "revenue_net_minor"}
        names |= {"conversions", "conversions_code", "conversions_link", "conversion_value_minor"}
        if window == "all":
            names.add("reach_sum")
    if scope == "campaign" and window == "all":
        names |= {"orders_out_of_window", "duplicate_events", "late_events"}
        names |= {"stale_snapshots", "refunds_unmatched", "conversions_out_of_window"}
        names.add("survey_responses")
    return names


def expected_ratios(scope: str, window: str) -> set[str]:
    """Ratio table of section 2, column "where", read literally (all denominators non-zero)."""
    names = {"engagement_rate_by_impressions", "engagement_rate_by_views", "ctr"}
    if window != "1m":
        names |= {"engagement_rate_by_reach", "frequency"}
    if window == "all":
        names |= {"engagement_rate_by_followers", "cpm_minor", "cpe_minor", "cpc_minor"}
        names |= {"content_score", *(f"content_score_{c}" for c in CRITERIA)}
    if scope in ("campaign", "influencer"):
        names |= {"conversion_rate", "aov_minor", "action_rate"}
        if window == "all":
            names |= {"cpa_minor", "roas", "roas_net", "engagement_rate_by_reach_sum"}
            names.add("cost_per_conversion_minor")
    if scope == "campaign" and window == "all":
        names.add("budget_used")
    return names


def expected_objects_and_attributes(scope: str, window: str) -> set[str]:
    """Objects (v2) where the rich scenario has them, and the attributes of each place."""
    names: set[str] = set()
    if scope in ("campaign", "influencer"):
        names.add("conversions_by_action")  # where `conversions` is
    if (scope, window) == ("campaign", "all"):
        names |= {"objective", "target_progress", "brand_lift"}
    if (scope, window) == ("influencer", "all"):
        names.add("tier")
    if (scope, window) == ("post", "all"):
        names |= {"influencer_id", "platform", "format", "published_at", "metrics_source"}
    return names


def rich_events() -> list[AnyEvent]:
    """One of everything, all in one minute, so that every denominator is non-zero."""
    all_scores = dict.fromkeys(CRITERIA, 4)
    return [
        campaign(
            budget_minor=100_000,
            objective="conversion",
            targets={"impressions": 20, "cpm_minor": 1_000_000},
            roster=[roster_entry("i1", codes=["SAVE10"], links=["l1"], tier="micro")],
        ),
        post(post_id="p1", influencer_id="i1", followers=1000, cost_minor=5000),
        interaction(action="impression", viewer_id="v1", count=10),
        interaction(action="view", viewer_id="v2", count=4),
        interaction(action="like", count=3),
        interaction(action="comment"),
        interaction(action="share"),
        interaction(action="save"),
        interaction(action="reply"),
        click(post_id="p1", link_id="l1", visitor_id="x1"),
        order(order_id="o-link", link_id="l1", amount_minor=1000),
        order(order_id="o-code", promo_code="save10", amount_minor=3000),
        refund(order_id="o-code", amount_minor=500),
        conversion(action="signup", link_id="l1", value_minor=200, currency="EUR"),
        conversion(action="lead", promo_code="SAVE10"),
        answer(respondent_id="u1", group="exposed", positive=True),
        answer(respondent_id="u2", group="control", positive=False),
        review(scores=all_scores),
    ]


@pytest.fixture(scope="module")
def rich() -> Engine:
    return engine_with(*rich_events())


@pytest.mark.parametrize(("scope", "window"), PLACES)
def test_each_kpi_appears_exactly_where_the_contract_puts_it(
    rich: Engine, scope: str, window: str
) -> None:
    scope_id = {"campaign": "c1", "influencer": "i1", "post": "p1"}[scope]
    values = kpis(rich, scope, scope_id, window, start=None if window == "all" else T0)
    assert values is not None
    expected = (
        expected_counters(scope, window)
        | expected_ratios(scope, window)
        | expected_objects_and_attributes(scope, window)
    )
    assert set(values) == expected


def test_only_the_contract_windows_exist_per_scope(rich: Engine) -> None:
    places = {(s.scope, s.window) for s in rich.all_sets()}
    assert places == set(PLACES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("posts", 1),
        ("influencers_active", 1),
        ("potential_reach", 1000),
        ("spend_minor", 5000),
        ("impressions", 10),
        ("views", 4),
        ("likes", 3),
        ("comments", 1),
        ("shares", 1),
        ("saves", 1),
        ("replies", 1),
        ("engagements", 7),
        ("reach", 2),
        ("reach_sum", 2),
        ("clicks", 1),
        ("clicks_valid", 1),
        ("orders", 2),
        ("orders_code", 1),
        ("orders_link", 1),
        ("orders_unattributed", 0),
        ("revenue_minor", 4000),
        ("orders_out_of_window", 0),
        ("refunds", 1),
        ("refunded_minor", 500),
        ("revenue_net_minor", 3500),
        ("refunds_unmatched", 0),
        ("conversions", 2),
        ("conversions_code", 1),
        ("conversions_link", 1),
        ("conversions_unattributed", 0),
        ("conversion_value_minor", 200),
        ("conversions_out_of_window", 0),
        ("reviews", 1),
        ("survey_responses", 2),
        ("duplicate_events", 0),
        ("late_events", 0),
        ("stale_snapshots", 0),
        ("engagement_rate_by_reach", 7 / 2),
        ("engagement_rate_by_impressions", 7 / 10),
        ("engagement_rate_by_views", 7 / 4),
        ("engagement_rate_by_followers", 7 / 1000),
        ("engagement_rate_by_reach_sum", 7 / 2),
        ("frequency", 10 / 2),
        ("ctr", 1 / 10),
        ("conversion_rate", 1 / 1),
        ("action_rate", 1 / 1),
        ("aov_minor", 4000 / 2),
        ("cpm_minor", 5000 * 1000 / 10),
        ("cpe_minor", 5000 / 7),
        ("cpc_minor", 5000 / 1),
        ("cpa_minor", 5000 / 2),
        ("cost_per_conversion_minor", 5000 / 2),
        ("roas", 4000 / 5000),
        ("roas_net", 3500 / 5000),
        ("content_score", 4.0),
        ("content_score_tone", 4.0),
        ("budget_used", 5000 / 100_000),
        ("objective", "conversion"),
        ("target_progress", {"impressions": 10 / 20, "cpm_minor": 500_000 / 1_000_000}),
        ("conversions_by_action", {"signup": 1, "lead": 1}),
        # p = 1/2: z = 1 / sqrt(1/4 * (1/1 + 1/1)); control_positive 0: no relative_lift
        ("brand_lift", {"awareness": {"exposed": 1, "exposed_positive": 1, "control": 1,
                                      "control_positive": 0, "lift": 1.0,
                                      "z": 1 / math.sqrt(0.5)}}),
    ],
)
def test_campaign_all_values(rich: Engine, name: str, expected: object) -> None:
    value = kpi(rich, name)
    if isinstance(expected, float):
        assert isinstance(value, float)
        assert math.isclose(value, expected, rel_tol=1e-12)
    elif name == "brand_lift":
        assert isinstance(value, dict)
        assert value.keys() == {"awareness"}
        entry = value["awareness"]
        expected_entry = expected["awareness"]  # type: ignore[index]
        assert entry.keys() == expected_entry.keys()
        for field, number in expected_entry.items():
            assert math.isclose(entry[field], number, rel_tol=1e-12), field
    else:
        assert value == expected


def test_scope_attributes_of_the_rich_scenario(rich: Engine) -> None:
    assert kpi(rich, "tier", "influencer", "i1") == "micro"
    values = kpis(rich, "post", "p1")
    assert values is not None
    assert {name: values[name] for name in expected_objects_and_attributes("post", "all")} == {
        "influencer_id": "i1", "platform": "instagram", "format": "reel",
        "published_at": secs(T0), "metrics_source": "events",
    }
    assert kpi(rich, "conversions_by_action", "influencer", "i1") == {"signup": 1, "lead": 1}
    assert kpi(rich, "conversions_by_action", window="1m", start=T0) == {"signup": 1, "lead": 1}
    assert kpi(rich, "refunded_minor", "influencer", "i1", "1h", start=T0) == 500


@pytest.mark.parametrize("window", ["all", "1d", "1h", "1m"])
def test_counters_are_typed_as_integers(rich: Engine, window: str) -> None:
    values = kpis(rich, window=window, start=None if window == "all" else T0)
    assert values is not None
    for name in expected_counters("campaign", window):
        assert type(values[name]) is int, name


@pytest.mark.parametrize(
    ("ratio", "events"),
    [
        # reach 0 (no viewer ids) -> both reach-based ratios absent
        ("engagement_rate_by_reach", [interaction(action="like"),
                                      interaction(action="impression")]),
        ("frequency", [interaction(action="impression", count=5)]),
        ("engagement_rate_by_impressions", [interaction(action="like")]),
        ("engagement_rate_by_views", [interaction(action="like"),
                                      interaction(action="impression")]),
        ("ctr", [click(visitor_id="x")]),
        ("ctr", [interaction(action="view"), click(user_agent="Googlebot")]),
        ("engagement_rate_by_followers", [post(followers=0), interaction(action="like")]),
        ("conversion_rate", [order(), click(user_agent="curl/8.0")]),
        ("aov_minor", [interaction()]),
        ("cpm_minor", [post(cost_minor=100), interaction(action="view")]),
        ("cpe_minor", [post(cost_minor=100), interaction(action="impression")]),
        ("cpc_minor", [post(cost_minor=100), click(user_agent="spider")]),
        ("cpa_minor", [post(cost_minor=100)]),
        ("roas", [post(cost_minor=0), order(amount_minor=500)]),
        ("content_score", [post()]),
        ("content_score_tone", [review(scores={"brand_fit": 3})]),
        ("budget_used", [campaign(budget_minor=None), post(cost_minor=100)]),
        ("budget_used", [campaign(budget_minor=0), post(cost_minor=100)]),
        ("budget_used", [post(cost_minor=100)]),
        ("roas_net", [post(cost_minor=0), order(amount_minor=500)]),
        ("engagement_rate_by_reach_sum", [interaction(action="like"),
                                          interaction(action="impression")]),
        ("cost_per_conversion_minor", [post(cost_minor=100), order()]),
        ("action_rate", [conversion(), click(user_agent="Slackbot")]),
    ],
)
def test_ratio_absent_when_denominator_is_zero(ratio: str, events: list[AnyEvent]) -> None:
    engine = engine_with(*events)
    values = kpis(engine)
    assert values is not None
    assert ratio not in values


@pytest.mark.parametrize(
    ("ratio", "events", "expected"),
    [
        ("ctr", [interaction(action="impression", count=4)], 0.0),
        ("engagement_rate_by_impressions", [interaction(action="impression")], 0.0),
        ("engagement_rate_by_reach", [interaction(action="view", viewer_id="v")], 0.0),
        ("aov_minor", [order(amount_minor=0)], 0.0),
        ("roas", [post(cost_minor=10)], 0.0),
        ("cpm_minor", [post(cost_minor=0), interaction(action="impression", count=3)], 0.0),
        ("conversion_rate", [click(visitor_id="x")], 0.0),
        ("budget_used", [campaign(budget_minor=1)], 0.0),
        ("budget_used", [campaign(budget_minor=400), post(cost_minor=100)], 0.25),
        ("roas_net", [post(cost_minor=10)], 0.0),
        ("action_rate", [click(visitor_id="x")], 0.0),
        ("cost_per_conversion_minor", [post(cost_minor=0), conversion()], 0.0),
        ("engagement_rate_by_reach_sum", [interaction(action="view", viewer_id="v")], 0.0),
        ("cpm_minor", [post(cost_minor=7), interaction(action="impression", count=3)],
         7000 / 3),
        ("engagement_rate_by_followers",
         [post(followers=200, post_id="p1"), post(followers=300, post_id="p2"),
          interaction(action="share", count=5)], 5 / 500),
    ],
)
def test_ratio_present_with_zero_numerator_or_value(
    ratio: str, events: list[AnyEvent], expected: float
) -> None:
    value = kpi(engine_with(*events), ratio)
    assert isinstance(value, float)
    assert math.isclose(value, expected, rel_tol=1e-12)


def test_conversion_rate_uses_link_orders_only() -> None:
    engine = engine_with(
        campaign(roster=[roster_entry("i1", codes=["C"], links=["l1"])]),
        click(visitor_id="a"), click(visitor_id="b"), click(visitor_id="c"), click(visitor_id="d"),
        order(link_id="l1"), order(promo_code="c"), order(),
    )
    assert kpi(engine, "conversion_rate") == 1 / 4
    assert kpi(engine, "conversion_rate", "influencer", "i1") == 1 / 4
    assert kpi(engine, "orders") == 3
    assert kpi(engine, "orders", "influencer", "i1") == 2


def test_ctr_counts_valid_clicks_only() -> None:
    engine = engine_with(
        interaction(action="impression", count=10),
        click(visitor_id="a"), click(visitor_id="a"), click(user_agent="Bot"),
    )
    assert kpi(engine, "clicks") == 3
    assert kpi(engine, "ctr") == 1 / 10


@pytest.mark.parametrize(
    ("scope", "scope_id", "window"),
    [
        ("campaign", "c1", "1d"), ("campaign", "c1", "1h"), ("campaign", "c1", "1m"),
        ("influencer", "i1", "1d"), ("influencer", "i1", "1h"),
    ],
)
def test_windowed_sets_carry_no_all_only_kpis(scope: str, scope_id: str, window: str) -> None:
    engine = engine_with(
        campaign(budget_minor=10, targets={"posts": 1},
                 roster=[roster_entry("i1", tier="nano")]),
        post(cost_minor=5), interaction(action="impression", viewer_id="v"), review(),
        answer(),
    )
    values = kpis(engine, scope, scope_id, window, start=T0)
    assert values is not None
    for name in ("potential_reach", "spend_minor", "reviews", "cpm_minor", "content_score",
                 "budget_used", "objective", "target_progress", "engagement_rate_by_followers",
                 "duplicate_events", "late_events", "orders_out_of_window"):
        assert name not in values


def test_post_scope_has_no_orders_refunds_or_conversions_and_clicks_only_when_named() -> None:
    engine = engine_with(
        post(post_id="p1"),
        click(post_id="p1", visitor_id="a"),
        click(visitor_id="b"),
        order(order_id="o1"),
        refund(order_id="o1"),
        conversion(),
    )
    values = kpis(engine, "post", "p1")
    assert values is not None
    assert values["clicks"] == 1
    assert not {"orders", "orders_code", "orders_link", "orders_unattributed",
                "revenue_minor", "aov_minor", "conversion_rate", "cpa_minor", "roas",
                "refunds", "refunded_minor", "revenue_net_minor", "conversions",
                "conversions_by_action", "conversion_value_minor", "action_rate",
                "reach_sum", "roas_net", "cost_per_conversion_minor"} & set(values)
    assert kpi(engine, "clicks") == 2


def test_influencers_active_counts_distinct_influencers_with_a_post() -> None:
    engine = engine_with(
        post(post_id="p1", influencer_id="i1"),
        post(post_id="p2", influencer_id="i1"),
        post(post_id="p3", influencer_id="i2", t="2026-11-02T11:05:00Z"),
        interaction(influencer_id="i3"),
    )
    assert kpi(engine, "influencers_active") == 2
    assert kpi(engine, "influencers_active", window="1h", start="2026-11-02T10:00:00Z") == 1
    assert kpi(engine, "influencers_active", window="1d", start=T0) == 2
    assert kpi(engine, "influencers_active", window="1m", start="2026-11-02T11:05:00Z") == 1


def test_engagements_sum_five_actions_and_count_weighs() -> None:
    engine = engine_with(
        interaction(action="like", count=2), interaction(action="comment", count=3),
        interaction(action="share", count=5), interaction(action="save", count=7),
        interaction(action="reply", count=11), interaction(action="impression", count=100),
        interaction(action="view", count=1000),
    )
    for window in ("all", "1d", "1h", "1m"):
        values = kpis(engine, window=window, start=None if window == "all" else T0)
        assert values is not None
        assert values["engagements"] == 28
        assert values["impressions"] == 100
        assert values["views"] == 1000


# -- objective, target_progress, budget ------------------------------------------------------


def test_objective_present_only_when_defined() -> None:
    assert "objective" not in (kpis(engine_with(post())) or {})
    assert kpi(engine_with(campaign(objective="awareness"), post()), "objective") == "awareness"


def test_no_target_progress_without_targets() -> None:
    values = kpis(engine_with(campaign(targets={}), post()))
    assert values is not None
    assert "target_progress" not in values


@pytest.mark.parametrize(
    ("targets", "events", "expected"),
    [
        ({"posts": 4}, [post()], {"posts": 0.25}),
        ({"likes": 2, "reach": 4}, [interaction(action="like", count=3)],
         {"likes": 1.5, "reach": 0.0}),
        # absent KPIs are left out (ctr without impressions, roas without spend)
        ({"ctr": 0.1, "roas": 3, "impressions": 10}, [click(), order()],
         {"impressions": 0.0}),
        ({"content_score": 4}, [post()], {}),
        # cost KPIs: value / target, so below 1 is good
        ({"cpm_minor": 2000, "cpe_minor": 50, "cpc_minor": 400, "cpa_minor": 1000},
         [post(cost_minor=1000), interaction(action="impression", count=1000),
          interaction(action="like", count=40), click(visitor_id="a"), click(visitor_id="b"),
          order(), order(), order(), order()],
         {"cpm_minor": 1000 / 2000, "cpe_minor": 25 / 50, "cpc_minor": 500 / 400,
          "cpa_minor": 250 / 1000}),
        ({"budget_used": 0.5}, [post(cost_minor=100)], {"budget_used": 0.25 / 0.5}),
        ({"frequency": 2}, [interaction(action="impression", viewer_id="v", count=3)],
         {"frequency": 1.5}),
        ({"not_a_kpi": 3, "posts": 1}, [post()], {"posts": 1.0}),
    ],
)
def test_target_progress(
    targets: dict[str, float], events: list[AnyEvent], expected: dict[str, float]
) -> None:
    engine = engine_with(campaign(targets=targets, budget_minor=400), *events)
    progress = kpi(engine, "target_progress")
    assert isinstance(progress, dict)
    assert progress.keys() == expected.keys()
    for name, value in expected.items():
        assert math.isclose(progress[name], value, rel_tol=1e-12), name


def test_target_progress_follows_the_definition_in_force() -> None:
    engine = engine_with(
        campaign("2026-11-01T00:00:00Z", targets={"posts": 2}),
        post(),
        campaign("2026-11-01T01:00:00Z", targets={"posts": 4}),
    )
    assert kpi(engine, "target_progress") == {"posts": 0.25}


# -- content scores ----------------------------------------------------------------------


def test_content_score_weighs_each_score_the_same() -> None:
    engine = engine_with(
        review(reviewer_id="r1", scores={"brand_fit": 5, "tone": 3}),
        review(reviewer_id="r2", scores={"tone": 1}),
    )
    # 3 scores: (5 + 3 + 1) / 3, not the mean of review means ((4 + 1) / 2)
    assert kpi(engine, "content_score") == 3.0
    assert kpi(engine, "content_score_tone") == 2.0
    assert kpi(engine, "content_score_brand_fit") == 5.0
    assert kpi(engine, "content_score_storytelling") is None
    assert kpi(engine, "reviews") == 2


def test_content_score_at_every_scope_of_window_all() -> None:
    engine = engine_with(
        review(post_id="p1", influencer_id="i1", reviewer_id="r1", scores={"tone": 2}),
        review(post_id="p2", influencer_id="i1", reviewer_id="r1", scores={"tone": 5}),
        review(post_id="p3", influencer_id="i2", reviewer_id="r1", scores={"tone": 5}),
    )
    assert kpi(engine, "content_score") == 4.0
    assert kpi(engine, "content_score", "influencer", "i1") == 3.5
    assert kpi(engine, "content_score", "post", "p1") == 2.0
    assert kpi(engine, "reviews", "influencer", "i1") == 2
    assert kpi(engine, "reviews", "post", "p3") == 1
