"""Conversions other than purchases (contract 1.9, v2)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from streams.domain.errors import InvalidRecord, Reason
from streams.domain.vocabulary import Topic

from .kpi_factories import (
    T0,
    campaign,
    changed,
    click,
    conversion,
    engine_with,
    feed,
    kpi,
    kpis,
    order,
    post,
    roster_entry,
    snapshot_of,
)

ROSTER = [
    roster_entry("i1", codes=["SUMMER10"], links=["l1"]),
    roster_entry("i2", codes=["WINTER"], links=["l2"]),
]
ACTIONS = ("lead", "signup", "app_install", "download", "contest_entry", "subscription", "other")


@pytest.mark.parametrize(
    ("promo_code", "link_id", "influencer", "channel"),
    [
        ("summer10", None, "i1", "code"),  # codes compare after case folding
        ("winter", "l1", "i2", "code"),  # code before link
        ("nope", "l2", "i2", "link"),
        (None, "l1", "i1", "link"),
        (None, "L1", None, "unattributed"),
        (None, None, None, "unattributed"),
    ],
)
def test_conversion_channels_are_those_of_orders(
    promo_code: str | None, link_id: str | None, influencer: str | None, channel: str
) -> None:
    engine = engine_with(
        campaign(roster=ROSTER),
        conversion(action="signup", promo_code=promo_code, link_id=link_id, value_minor=250,
                   currency="EUR"),
    )
    for window in ("all", "1d", "1h", "1m"):
        values = kpis(engine, window=window, start=None if window == "all" else T0)
        assert values is not None
        assert values[f"conversions_{channel}"] == 1
        assert values["conversions"] == 1
        assert values["conversion_value_minor"] == 250
        assert values["conversions_by_action"] == {"signup": 1}
    influencer_sets = [s for s in engine.all_sets() if s.scope == "influencer"]
    if influencer is None:
        assert influencer_sets == []
        return
    assert {s.scope_id for s in influencer_sets} == {influencer}
    for window in ("all", "1d", "1h"):
        values = kpis(engine, "influencer", influencer, window, start=T0)
        assert values is not None
        assert values[f"conversions_{channel}"] == 1
        assert values["conversions_by_action"] == {"signup": 1}
        assert "conversions_unattributed" not in values


def test_conversions_by_action_counts_each_action_with_at_least_one() -> None:
    engine = engine_with(
        campaign(roster=ROSTER),
        *(conversion(action=action, link_id="l1") for action in ACTIONS),
        conversion(action="lead", link_id="l1"),
        conversion(action="lead"),
    )
    expected = dict.fromkeys(ACTIONS, 1)
    expected["lead"] = 3
    assert kpi(engine, "conversions_by_action") == expected
    assert kpi(engine, "conversions") == 9
    by_influencer = dict.fromkeys(ACTIONS, 1)
    by_influencer["lead"] = 2
    assert kpi(engine, "conversions_by_action", "influencer", "i1") == by_influencer


def test_conversions_by_action_is_empty_where_conversions_is_zero() -> None:
    engine = engine_with(campaign(roster=ROSTER), order(promo_code="WINTER"))
    for scope, sid, window in (("campaign", None, "all"), ("campaign", None, "1m"),
                               ("influencer", "i2", "all"), ("influencer", "i2", "1h")):
        values = kpis(engine, scope, sid, window, start=T0)
        assert values is not None
        assert values["conversions"] == 0
        assert values["conversions_by_action"] == {}


def test_value_is_summed_and_absent_value_adds_nothing() -> None:
    engine = engine_with(
        campaign(roster=ROSTER),
        conversion(value_minor=100, currency="EUR"),
        conversion(value_minor=0, currency="EUR"),
        conversion(),
        conversion(currency="EUR"),
    )
    assert kpi(engine, "conversions") == 4
    assert kpi(engine, "conversion_value_minor") == 100


def test_a_currency_differing_from_the_campaign_is_rejected() -> None:
    engine = engine_with(campaign(currency="EUR"))
    before = snapshot_of(engine)
    for event in (conversion(value_minor=5, currency="USD"), conversion(currency="USD")):
        with pytest.raises(InvalidRecord) as caught:
            engine.apply(Topic.CONVERSIONS, event)
        assert caught.value.reason is Reason.CURRENCY_MISMATCH
    assert snapshot_of(engine) == before


def test_no_currency_means_no_currency_check() -> None:
    engine = engine_with(campaign(currency="EUR"))
    assert feed(engine, conversion()) == ["counted"]


def test_a_rejected_conversion_registers_nothing() -> None:
    engine = engine_with(campaign(currency="EUR"))
    wrong = conversion(conversion_id="k1", currency="USD")
    with pytest.raises(InvalidRecord):
        engine.apply(Topic.CONVERSIONS, wrong)
    assert feed(engine, dataclasses.replace(wrong, currency="EUR")) == ["counted"]


@pytest.mark.parametrize(
    ("occurred", "in_window"),
    [
        ("2026-11-17T00:00:00Z", True),  # exactly ends_at + 7 days
        ("2026-11-17T00:00:00.000001Z", False),
        ("2026-10-01T00:00:00Z", True),  # before starts_at: only the end bounds them
    ],
)
def test_out_of_window_conversions(occurred: str, in_window: bool) -> None:
    engine = engine_with(
        campaign(ends_at="2026-11-10T00:00:00Z", roster=ROSTER),
        conversion(occurred, link_id="l1", value_minor=9, currency="EUR"),
    )
    assert kpi(engine, "conversions") == int(in_window)
    assert kpi(engine, "conversion_value_minor") == 9 * in_window
    assert kpi(engine, "conversions_out_of_window") == int(not in_window)
    assert kpi(engine, "conversions_by_action") == ({"lead": 1} if in_window else {})
    if not in_window:
        assert kpis(engine, "influencer", "i1") is None
        assert kpis(engine, window="1h", start=occurred) is None


def test_an_out_of_window_conversion_takes_its_conversion_id() -> None:
    engine = engine_with(campaign(ends_at="2026-11-10T00:00:00Z", attribution_window_days=0))
    assert feed(
        engine,
        conversion("2026-11-20T00:00:00Z", conversion_id="k1"),
        conversion("2026-11-20T00:00:01Z", conversion_id="k1"),
    ) == ["counted", "duplicate"]
    assert kpi(engine, "conversions_out_of_window") == 1


def test_a_campaign_without_definition_gets_no_currency_or_window_check() -> None:
    engine = engine_with(
        conversion("2030-01-01T00:00:00Z", value_minor=100, currency="USD", promo_code="SUMMER10"),
        conversion("2030-01-01T00:00:00Z", value_minor=50, currency="JPY"),
    )
    assert kpi(engine, "conversions_unattributed") == 2
    assert kpi(engine, "conversion_value_minor") == 150  # two currencies added up (1.9)
    assert kpi(engine, "conversions_out_of_window") == 0


def test_a_conversion_id_is_counted_once() -> None:
    engine = engine_with(campaign(roster=ROSTER))
    first = conversion(conversion_id="k1", link_id="l1", value_minor=10, currency="EUR")
    assert feed(engine, first, dataclasses.replace(first, event_id="other", value_minor=99)) == [
        "counted", "duplicate"
    ]
    assert kpi(engine, "conversion_value_minor") == 10
    assert kpi(engine, "duplicate_events") == 1


def test_conversion_ids_and_order_ids_are_counted_apart() -> None:
    engine = engine_with(order(order_id="x"), conversion(conversion_id="x"))
    assert (kpi(engine, "orders"), kpi(engine, "conversions")) == (1, 1)


def test_a_late_conversion_counts_in_window_all_only() -> None:
    engine = engine_with(campaign(roster=ROSTER), conversion("2026-11-02T20:00:00Z"))
    late_at = "2026-11-02T13:00:00Z"
    assert feed(engine, conversion(late_at, link_id="l2", action="download")) == ["late"]
    assert kpi(engine, "conversions_by_action", "influencer", "i2") == {"download": 1}
    assert kpis(engine, "influencer", "i2", "1h", start=late_at) is None
    assert kpi(engine, "conversions_by_action", window="1d", start=late_at) == {"lead": 1}


def test_action_rate_uses_link_conversions_per_valid_click() -> None:
    engine = engine_with(
        campaign(roster=ROSTER),
        click(visitor_id="a"), click(visitor_id="b"), click(user_agent="bot"),
        conversion(link_id="l1"), conversion(promo_code="summer10"), conversion(),
    )
    assert kpi(engine, "action_rate") == 1 / 2
    assert kpi(engine, "action_rate", "influencer", "i1") == 1 / 2
    assert kpi(engine, "conversion_rate") == 0.0


def test_cost_per_conversion() -> None:
    engine = engine_with(
        campaign(roster=ROSTER),
        post(cost_minor=900, influencer_id="i1"),
        conversion(link_id="l1"), conversion(link_id="l1"), conversion(),
    )
    value = kpi(engine, "cost_per_conversion_minor")
    assert isinstance(value, float)
    assert math.isclose(value, 300.0)
    assert kpi(engine, "cost_per_conversion_minor", "influencer", "i1") == 450.0
    assert kpi(engine, "cost_per_conversion_minor", window="1h", start=T0) is None


def test_conversions_do_not_change_changed_sets_of_other_campaigns() -> None:
    engine = engine_with(conversion(campaign_id="a"), conversion(campaign_id="b"))
    changed(engine)
    feed(engine, conversion(campaign_id="a"))
    assert {s.campaign_id for s in changed(engine)} == {"a"}
