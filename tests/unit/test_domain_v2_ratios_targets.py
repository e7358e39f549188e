"""v2 ratios (negative denominators), target_progress with v2 KPIs, integers beyond 64 bits."""

from __future__ import annotations

import math

import pytest

from streams import codec

from .kpi_factories import (
    T0,
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
    roster_entry,
    snapshot,
)

H10 = "2026-11-02T10:05:00Z"
H11 = "2026-11-02T11:05:00Z"


# -- ratios with a negative denominator (contract 2: "still gives a ratio") -------------------


def test_a_window_where_impressions_went_down_still_has_its_ratios() -> None:
    engine = engine_with(
        snapshot(H10, impressions=100, views=50, likes=10),
        snapshot(H11, impressions=80, views=40, likes=12),
        click(H11, visitor_id="v"),
    )
    hour = kpis(engine, window="1h", start=H11)
    assert hour is not None
    assert (hour["impressions"], hour["views"], hour["engagements"]) == (-20, -10, 2)
    assert hour["engagement_rate_by_impressions"] == 2 / -20
    assert hour["engagement_rate_by_views"] == 2 / -10
    assert hour["ctr"] == 1 / -20
    minute = kpis(engine, window="1m", start=H11)
    assert minute is not None
    assert minute["engagement_rate_by_impressions"] == -0.1


def test_a_zero_numerator_over_a_negative_denominator_is_a_ratio() -> None:
    engine = engine_with(snapshot(H10, impressions=100), snapshot(H11, impressions=90))
    hour = kpis(engine, window="1h", start=H11)
    assert hour is not None
    assert "ctr" in hour
    assert hour["ctr"] == 0.0
    assert "engagement_rate_by_impressions" in hour


def test_cost_ratios_over_a_negative_denominator_at_window_all() -> None:
    # A post's snapshots naming another influencer (1.4.1): i2 gets the negative delta.
    engine = engine_with(
        post(post_id="p1", influencer_id="i2", cost_minor=1000),
        snapshot(H10, post_id="p1", influencer_id="i1", impressions=100, likes=10),
        snapshot(H11, post_id="p1", influencer_id="i2", impressions=50, likes=4),
    )
    values = kpis(engine, "influencer", "i2")
    assert values is not None
    assert (values["impressions"], values["engagements"]) == (-50, -6)
    assert values["cpm_minor"] == 1000 * 1000 / -50
    assert values["cpe_minor"] == 1000 / -6
    assert values["engagement_rate_by_impressions"] == -6 / -50


def test_revenue_net_can_be_negative_in_a_window_and_roas_net_follows_it() -> None:
    engine = engine_with(
        campaign(roster=[roster_entry("i1", links=["l1"])]),
        post(cost_minor=500),
        order(H10, order_id="o1", amount_minor=800, link_id="l1"),
        refund(H11, order_id="o1", amount_minor=800),
    )
    assert kpi(engine, "revenue_net_minor", window="1h", start=H11) == -800
    assert kpi(engine, "revenue_net_minor") == 0
    assert kpi(engine, "roas_net") == 0.0
    assert kpi(engine, "roas") == 800 / 500


# -- target_progress ---------------------------------------------------------------------


def test_target_progress_with_v2_kpis() -> None:
    engine = engine_with(
        campaign(
            targets={"conversions": 4, "reach_sum": 10, "roas_net": 2,
                     "cost_per_conversion_minor": 500, "refunded_minor": 40,
                     "action_rate": 0.5, "survey_responses": 4, "stale_snapshots": 1},
            roster=[roster_entry("i1", links=["l1"])],
        ),
        post(cost_minor=500),
        interaction(action="impression", viewer_id="a"),
        interaction(action="impression", viewer_id="b"),
        order(order_id="o1", amount_minor=1000),
        refund(order_id="o1", amount_minor=10),
        click(visitor_id="v"),
        conversion(link_id="l1"),
        conversion(),
    )
    progress = kpi(engine, "target_progress")
    assert isinstance(progress, dict)
    expected = {
        "conversions": 2 / 4,
        "reach_sum": 2 / 10,
        "roas_net": (990 / 500) / 2,
        "cost_per_conversion_minor": (500 / 2) / 500,  # a cost KPI: 0.5 is good
        "refunded_minor": 10 / 40,
        "action_rate": 1.0 / 0.5,
        "survey_responses": 0 / 4,
        "stale_snapshots": 0 / 1,
    }
    assert progress.keys() == expected.keys()
    for name, value in expected.items():
        assert math.isclose(progress[name], value, rel_tol=1e-12), name


def test_target_progress_leaves_out_absent_v2_kpis() -> None:
    engine = engine_with(
        campaign(targets={"cost_per_conversion_minor": 100, "roas_net": 1,
                          "engagement_rate_by_reach_sum": 0.5, "conversions": 3}),
        post(cost_minor=0),
    )
    assert kpi(engine, "target_progress") == {"conversions": 0.0}


@pytest.mark.parametrize(
    "name",
    ["conversions_by_action", "brand_lift", "target_progress", "influencer_id", "platform",
     "format", "published_at", "metrics_source", "tier", "objective"],
)
def test_object_kpis_and_attributes_are_ignored_as_targets(name: str) -> None:
    # contract 2: "Object KPIs and attributes cannot be targets: such entries are ignored".
    # The codec drops them (tests/contract); the engine ignores them even when given.
    engine = engine_with(
        campaign(targets={name: 1.0, "posts": 2}, roster=[roster_entry("i1", tier="nano")]),
        post(),
        conversion(),
    )
    assert kpi(engine, "target_progress") == {"posts": 0.5}


def test_objects_and_attributes_cannot_be_targets_through_the_codec() -> None:
    value = {
        "event_id": "e1", "type": "campaign", "occurred_at": "2026-11-01T00:00:00Z",
        "campaign_id": "c1", "name": "n", "objective": "conversion",
        "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-30T00:00:00Z",
        "currency": "EUR",
        "targets": {"brand_lift": -1, "conversions_by_action": "x", "tier": True,
                    "published_at": 0, "conversions": 5},
    }
    event = codec.decode("campaigns", b"c1", codec.dumps(value), None)
    assert event.targets == {"conversions": 5.0}  # type: ignore[union-attr]


# -- integers beyond 64 bits (contract 5: "a sum may pass 64 bits") ----------------------------


def test_sums_pass_64_bits_exactly_and_the_output_value_keeps_them() -> None:
    # 20,000 posts of 10^15 followers and cost: 2 * 10^19, more than 2^64
    posts = [post(post_id=f"p{i}", influencer_id=f"i{i % 3}", followers=10**15,
                  cost_minor=10**15) for i in range(20_000)]
    engine = engine_with(campaign(budget_minor=10**15), *posts,
                         interaction(action="impression", count=1000))
    expected = 20_000 * 10**15
    assert expected > 2**64
    values = kpis(engine)
    assert values is not None
    assert values["potential_reach"] == expected
    assert values["spend_minor"] == expected
    assert type(values["spend_minor"]) is int
    assert values["cpm_minor"] == expected * 1000 / 1000
    assert values["budget_used"] == expected / 10**15
    campaign_all = next(s for s in engine.all_sets() if (s.scope, s.window) == ("campaign", "all"))
    text = codec.dumps(campaign_all.to_value(1))
    assert b'"spend_minor":20000000000000000000,' in text
    assert codec.loads(text) == campaign_all.to_value(1)
    day = kpis(engine, window="1d", start=T0)
    assert day is not None
    assert day["posts"] == 20_000


@pytest.mark.parametrize(
    "number",
    [2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**40), 2**200],
)
def test_codec_dumps_and_loads_integers_of_any_size_exactly(number: int) -> None:
    document = {"kpis": {"n": number, "ratio": 0.1, "nested": [number, {"m": number}]},
                "text": "12345678901234567890"}
    text = codec.dumps(document)
    assert str(number).encode() in text
    back = codec.loads(text)
    assert back == document
    assert type(back["kpis"]["n"]) is int
    assert back["text"] == "12345678901234567890"
    assert codec.loads(text.decode()) == document


def test_codec_loads_big_integers_after_a_fraction_or_exponent_as_numbers() -> None:
    assert codec.loads(b"[1.12345678901234567890, 1e19, 12345678901234567890]") == [
        1.1234567890123457, 1e19, 12345678901234567890
    ]


def test_an_engine_run_with_huge_sums_keeps_counting() -> None:
    engine = engine_with(*(post(post_id=f"p{i}", followers=10**15) for i in range(10)))
    feed(engine, interaction(action="like", count=1_000_000))
    assert kpi(engine, "potential_reach") == 10**16
    assert kpi(engine, "engagement_rate_by_followers") == 1_000_000 / 10**16
