"""Refunds of counted orders (contract 1.6.1, v2)."""

from __future__ import annotations

import dataclasses

import pytest

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.events import AnyEvent, OrderRefund
from streams.domain.vocabulary import Topic

from .kpi_factories import (
    campaign,
    changed,
    engine_with,
    feed,
    kpi,
    kpis,
    order,
    post,
    refund,
    roster_entry,
    snapshot_of,
)

ORDER_T = "2026-11-02T10:05:00Z"
REFUND_T = "2026-11-03T11:20:00Z"
ROSTER = [roster_entry("i1", codes=["ANNA"], links=["l1"])]


def rejection(engine: Engine, event: OrderRefund) -> Reason:
    before = snapshot_of(engine)
    with pytest.raises(InvalidRecord) as caught:
        engine.apply(Topic.ORDERS, event)
    assert snapshot_of(engine) == before
    return caught.value.reason


def attributed() -> Engine:
    return engine_with(
        campaign(roster=ROSTER),
        order(ORDER_T, order_id="o1", amount_minor=1000, promo_code="anna"),
    )


def test_a_matched_refund_counts_in_the_scopes_of_its_order_and_the_windows_of_the_refund() -> None:
    engine = attributed()
    assert feed(engine, refund(REFUND_T, order_id="o1", amount_minor=300)) == ["counted"]
    for scope, sid in (("campaign", None), ("influencer", "i1")):
        values = kpis(engine, scope, sid)
        assert values is not None
        assert (values["refunds"], values["refunded_minor"], values["revenue_minor"],
                values["revenue_net_minor"], values["orders"]) == (1, 300, 1000, 700, 1)
        # the refund's own windows: revenue 0 there, so net revenue is negative
        for window in ("1d", "1h"):
            values = kpis(engine, scope, sid, window, start=REFUND_T)
            assert values is not None
            assert (values["refunds"], values["refunded_minor"], values["revenue_minor"],
                    values["revenue_net_minor"]) == (1, 300, 0, -300), (scope, window)
        # the order's windows are untouched by the refund
        values = kpis(engine, scope, sid, "1h", start=ORDER_T)
        assert values is not None
        assert (values["refunds"], values["revenue_net_minor"]) == (0, 1000)
    assert kpi(engine, "refunds", window="1m", start=REFUND_T) == 1
    assert kpi(engine, "refunds_unmatched") == 0
    assert kpi(engine, "aov_minor") == 1000.0  # refunds do not change the orders


def test_a_refund_of_an_unattributed_order_counts_at_campaign_scope_only() -> None:
    engine = engine_with(campaign(roster=ROSTER), order(ORDER_T, order_id="o1"),
                         refund(REFUND_T, order_id="o1", amount_minor=10))
    assert kpi(engine, "refunded_minor") == 10
    assert [s for s in engine.all_sets() if s.scope == "influencer"] == []


def test_a_refund_follows_the_influencer_of_its_order_not_the_definition_in_force() -> None:
    engine = attributed()
    feed(engine, campaign("2026-11-02T12:00:00Z", roster=[roster_entry("i2", codes=["ANNA"])]),
         refund(REFUND_T, order_id="o1", amount_minor=5))
    assert kpi(engine, "refunded_minor", "influencer", "i1") == 5
    assert kpis(engine, "influencer", "i2") is None


@pytest.mark.parametrize(
    "history",
    [
        [],  # never seen
        [order("2026-12-20T00:00:00Z", order_id="o1")],  # out of window: not in `orders`
        [order(ORDER_T, order_id="o1", campaign_id="c2")],  # another campaign's order
    ],
    ids=["never_seen", "out_of_window", "other_campaign"],
)
def test_an_unmatched_refund_counts_in_refunds_unmatched_only(history: list[AnyEvent]) -> None:
    engine = engine_with(campaign(), *history)
    changed(engine)
    after = "2026-12-21T00:00:00Z"  # after every order: not late
    assert feed(engine, refund(after, order_id="o1", amount_minor=10**12)) == ["counted"]
    written = changed(engine)
    assert [(s.campaign_id, s.scope, s.window) for s in written] == [("c1", "campaign", "all")]
    values = written[0].kpis
    assert (values["refunds_unmatched"], values["refunds"], values["refunded_minor"]) == (1, 0, 0)


def test_a_refund_of_a_rejected_order_is_unmatched() -> None:
    engine = engine_with(campaign(currency="EUR"))
    with pytest.raises(InvalidRecord):
        engine.apply(Topic.ORDERS, order(order_id="o1", currency="USD"))
    assert feed(engine, refund(order_id="o1", amount_minor=1)) == ["counted"]
    assert kpi(engine, "refunds_unmatched") == 1


def test_a_refund_before_its_order_is_unmatched_and_the_order_then_counts() -> None:
    # The orders counted *before* it on the partition: a refund arriving first matches none.
    engine = engine_with(campaign(), refund(order_id="o1", amount_minor=5),
                         order(order_id="o1", amount_minor=50))
    assert kpi(engine, "refunds_unmatched") == 1
    assert kpi(engine, "refunds") == 0
    assert kpi(engine, "revenue_net_minor") == 50


def test_an_unmatched_refund_registers_its_refund_id_and_counts_when_late() -> None:
    engine = engine_with(order("2026-11-02T20:00:00Z"))
    late = refund("2026-11-02T13:00:00Z", order_id="nope", refund_id="r1")
    assert feed(engine, late) == ["late"]
    assert kpi(engine, "late_events") == 1
    assert kpi(engine, "refunds_unmatched") == 1
    assert feed(engine, dataclasses.replace(late, event_id="other")) == ["duplicate"]


def test_refunds_up_to_the_order_amount_are_allowed_and_more_is_rejected() -> None:
    engine = attributed()
    assert feed(engine, refund(order_id="o1", amount_minor=600)) == ["counted"]
    assert rejection(engine, refund(order_id="o1", amount_minor=401)) is (
        Reason.REFUND_EXCEEDS_ORDER
    )
    assert feed(engine, refund(order_id="o1", amount_minor=400)) == ["counted"]  # exactly 1000
    assert rejection(engine, refund(order_id="o1", amount_minor=1)) is Reason.REFUND_EXCEEDS_ORDER
    assert kpi(engine, "refunded_minor") == 1000
    assert kpi(engine, "revenue_net_minor") == 0
    assert kpi(engine, "refunds") == 2


def test_a_single_refund_above_the_order_amount_is_rejected() -> None:
    engine = engine_with(order(order_id="o0", amount_minor=0), order(order_id="o1",
                                                                      amount_minor=99))
    assert rejection(engine, refund(order_id="o1", amount_minor=100)) is (
        Reason.REFUND_EXCEEDS_ORDER
    )
    assert rejection(engine, refund(order_id="o0", amount_minor=1)) is Reason.REFUND_EXCEEDS_ORDER


def test_a_rejected_refund_registers_nothing() -> None:
    engine = attributed()
    too_much = refund(order_id="o1", refund_id="r1", event_id="e1", amount_minor=2000)
    assert rejection(engine, too_much) is Reason.REFUND_EXCEEDS_ORDER
    assert rejection(engine, too_much) is Reason.REFUND_EXCEEDS_ORDER  # judged afresh
    assert feed(engine, dataclasses.replace(too_much, amount_minor=20)) == ["counted"]
    assert kpi(engine, "duplicate_events") == 0


def test_refund_currency_differing_from_the_campaign_is_rejected() -> None:
    engine = attributed()
    assert rejection(engine, refund(order_id="o1", currency="USD")) is Reason.CURRENCY_MISMATCH
    # also when the refund matches no order
    assert rejection(engine, refund(order_id="nope", currency="USD")) is Reason.CURRENCY_MISMATCH


def test_a_refund_of_a_campaign_without_definition_gets_no_currency_check() -> None:
    engine = engine_with(order(order_id="o1", currency="USD", amount_minor=10))
    assert feed(engine, refund(order_id="o1", currency="JPY", amount_minor=4)) == ["counted"]
    assert kpi(engine, "refunded_minor") == 4


def test_the_currency_check_comes_before_the_duplicate_check() -> None:
    engine = attributed()
    feed(engine, refund(order_id="o1", refund_id="r1", amount_minor=1))
    assert rejection(engine, refund(order_id="o1", refund_id="r1", currency="GBP")) is (
        Reason.CURRENCY_MISMATCH
    )
    assert kpi(engine, "duplicate_events") == 0


def test_a_refund_id_is_counted_once() -> None:
    engine = attributed()
    first = refund(order_id="o1", refund_id="r1", amount_minor=100)
    assert feed(engine, first) == ["counted"]
    # a new event id with the same refund_id is a duplicate; checked before the amount, so
    # one that would exceed the order is a duplicate too, not refund_exceeds_order
    assert feed(engine, dataclasses.replace(first, event_id="e-2")) == ["duplicate"]
    assert feed(engine, dataclasses.replace(first, event_id="e-3", amount_minor=5000)) == [
        "duplicate"
    ]
    assert kpi(engine, "refunds") == 1
    assert kpi(engine, "duplicate_events") == 2


def test_refund_ids_and_order_ids_are_different_things() -> None:
    engine = engine_with(order(order_id="x", amount_minor=10))
    assert feed(engine, refund(order_id="x", refund_id="x", amount_minor=3)) == ["counted"]
    assert kpi(engine, "refunds") == 1


def test_a_late_refund_counts_in_window_all_only() -> None:
    engine = attributed()
    feed(engine, order("2026-11-02T20:00:00Z", amount_minor=1))
    late_at = "2026-11-02T13:59:00Z"  # 6 h 01 before the orders' greatest time
    assert feed(engine, refund(late_at, order_id="o1", amount_minor=70)) == ["late"]
    assert kpi(engine, "refunded_minor") == 70
    assert kpi(engine, "refunded_minor", "influencer", "i1") == 70
    assert kpi(engine, "late_events") == 1
    assert kpis(engine, window="1h", start=late_at) is None
    assert kpi(engine, "refunds", window="1d", start=late_at) == 0


def test_refunds_share_the_lateness_reference_of_orders() -> None:
    engine = attributed()
    feed(engine, refund("2026-11-02T20:00:00Z", order_id="o1", amount_minor=1))
    assert feed(engine, order("2026-11-02T14:00:00Z", amount_minor=1)) == ["counted"]
    assert feed(engine, order("2026-11-02T13:59:59Z", amount_minor=1)) == ["late"]


def test_roas_net_uses_the_revenue_net_of_refunds() -> None:
    engine = engine_with(post(cost_minor=400), order(order_id="o1", amount_minor=1000),
                         refund(order_id="o1", amount_minor=200))
    assert kpi(engine, "roas") == 1000 / 400
    assert kpi(engine, "roas_net") == 800 / 400
