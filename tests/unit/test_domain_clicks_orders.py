"""Click classes (contract 1.5) and order attribution (contract 1.6)."""

from __future__ import annotations

import pytest

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.vocabulary import Topic

from .kpi_factories import (
    MINUTE,
    SEC,
    T0,
    at,
    campaign,
    changed,
    click,
    engine_with,
    feed,
    kpi,
    kpis,
    order,
    roster_entry,
    snapshot_of,
)

# -- clicks ------------------------------------------------------------------------------


def click_class(engine: Engine) -> str:
    """The class of the last click fed to a fresh-per-test engine, from the counters."""
    values = kpis(engine)
    assert values is not None
    return max(("clicks_valid", "clicks_bot", "clicks_repeat"), key=lambda n: values[n])  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("user_agent", "klass"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("BOT", "bot"),
        ("Bot", "bot"),
        ("robot", "bot"),
        ("Mozilla/5.0 Crawler", "bot"),
        ("CRAWLER", "bot"),
        ("some-Spider/1.0", "bot"),
        ("facebookexternalhit/1.1", "bot"),
        ("FacebookExternalHit/1.1", "bot"),
        ("Slackbot-LinkExpanding 1.0", "bot"),
        ("WhatsApp/2.23.20.0", "bot"),
        ("WHATSAPP", "bot"),
        ("TelegramBot (like TwitterBot)", "bot"),
        ("Mozilla/5.0 Discord/1.0", "bot"),
        ("DISCORD", "bot"),
        ("Mozilla/5.0 HeadlessChrome/120.0", "bot"),
        ("headlesschrome", "bot"),
        ("curl/8.4.0", "bot"),
        ("CURL/7", "bot"),
        ("python-requests/2.31", "bot"),
        ("Python-Requests/2.31", "bot"),
        ("Wget/1.21.4", "bot"),
        ("wget/1", "bot"),
        # near misses
        ("curl 8.4.0", "valid"),
        ("wget 1.21", "valid"),
        ("python requests", "valid"),
        ("headless chrome", "valid"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "valid"),
        ("", "valid"),
        (None, "valid"),
    ],
)
def test_bot_markers_case_insensitive(user_agent: str | None, klass: str) -> None:
    engine = engine_with(click(user_agent=user_agent, visitor_id="v1"))
    assert click_class(engine) == f"clicks_{klass}"
    assert kpi(engine, "clicks") == 1


@pytest.mark.parametrize(
    ("offset", "klass"),
    [
        (0, "repeat"),  # t itself is in (t - 30 min, t]
        (1 * SEC, "repeat"),
        (29 * MINUTE, "repeat"),
        (30 * MINUTE - 1, "repeat"),
        (30 * MINUTE, "valid"),  # exactly 30 min later: the first is not in (t - 30 min, t]
        (31 * MINUTE, "valid"),
        (-1 * MINUTE, "valid"),  # an earlier click: the first valid one is after it
    ],
)
def test_repeat_window(offset: int, klass: str) -> None:
    engine = engine_with(click(at(T0), visitor_id="v", link_id="l1"))
    feed(engine, click(at(T0, offset), visitor_id="v", link_id="l1"))
    assert kpi(engine, "clicks_valid") == 1 + (klass == "valid")
    assert kpi(engine, "clicks_repeat") == (klass == "repeat")


@pytest.mark.parametrize(
    ("second", "klass"),
    [
        ({"visitor_id": "other", "link_id": "l1"}, "valid"),
        ({"visitor_id": "v", "link_id": "l2"}, "valid"),
        ({"visitor_id": "v", "link_id": "l1", "campaign_id": "c2"}, "valid"),
        ({"visitor_id": None, "link_id": "l1"}, "valid"),
        ({"visitor_id": "v", "link_id": "l1", "influencer_id": "i9"}, "repeat"),
        ({"visitor_id": "v", "link_id": "l1", "user_agent": "Bot"}, "bot"),
    ],
)
def test_repeat_needs_same_campaign_visitor_and_link(
    second: dict[str, str | None], klass: str
) -> None:
    engine = engine_with(click(at(T0), visitor_id="v", link_id="l1"))
    feed(engine, click(at(T0, MINUTE), **second))  # type: ignore[arg-type]
    cid = str(second.get("campaign_id") or "c1")
    values = kpis(engine, campaign_id=cid)
    assert values is not None
    assert values[f"clicks_{klass}"] == (1 if cid == "c2" or klass != "valid" else 2)


def test_clicks_without_visitor_never_repeat() -> None:
    engine = engine_with(*(click(at(T0, i)) for i in range(5)))
    assert kpi(engine, "clicks_valid") == 5
    assert kpi(engine, "clicks_repeat") == 0


def test_repeat_does_not_extend_the_window() -> None:
    engine = engine_with(
        click(at(T0), visitor_id="v"),
        click(at(T0, 20 * MINUTE), visitor_id="v"),  # repeat of the first
        click(at(T0, 45 * MINUTE), visitor_id="v"),  # 45 min after the only valid one
    )
    assert kpi(engine, "clicks_valid") == 2
    assert kpi(engine, "clicks_repeat") == 1


def test_bot_click_does_not_register_for_repeats() -> None:
    engine = engine_with(
        click(at(T0), visitor_id="v", user_agent="Googlebot"),
        click(at(T0, MINUTE), visitor_id="v"),
    )
    assert kpi(engine, "clicks_bot") == 1
    assert kpi(engine, "clicks_valid") == 1


def test_valid_clicks_chain() -> None:
    engine = engine_with(
        click(at(T0), visitor_id="v"),
        click(at(T0, 31 * MINUTE), visitor_id="v"),  # valid
        click(at(T0, 50 * MINUTE), visitor_id="v"),  # repeats the 31-minute one
    )
    assert kpi(engine, "clicks_valid") == 2
    assert kpi(engine, "clicks_repeat") == 1


def test_out_of_order_clicks() -> None:
    engine = Engine()
    # a later valid click processed first does not make an earlier one a repeat
    feed(engine, click(at(T0, 40 * MINUTE), visitor_id="v"), click(at(T0), visitor_id="v"))
    assert kpi(engine, "clicks_valid") == 2
    # 10:25: the 10:05 valid click is in (09:55, 10:25]
    feed(engine, click(at(T0, 20 * MINUTE), visitor_id="v"))
    assert kpi(engine, "clicks_repeat") == 1
    # 10:44: neither 10:05 nor 10:45 is in (10:14, 10:44]
    feed(engine, click(at(T0, 39 * MINUTE), visitor_id="v"))
    assert kpi(engine, "clicks_valid") == 3


def test_duplicate_click_is_not_a_repeat() -> None:
    first = click(visitor_id="v")
    engine = engine_with(first, first)
    assert kpi(engine, "clicks") == 1
    assert kpi(engine, "clicks_repeat") == 0
    assert kpi(engine, "duplicate_events") == 1


def test_click_classes_reach_influencer_and_post_scopes() -> None:
    engine = engine_with(
        click(visitor_id="v", post_id="p1"),
        click(visitor_id="v", post_id="p1"),
        click(user_agent="spider", post_id="p1"),
    )
    for scope, sid in (("influencer", "i1"), ("post", "p1")):
        values = kpis(engine, scope, sid)
        assert values is not None
        assert (values["clicks"], values["clicks_valid"], values["clicks_repeat"],
                values["clicks_bot"]) == (3, 1, 1, 1)


# -- orders ------------------------------------------------------------------------------

ROSTER = [
    roster_entry("i1", codes=["SUMMER10", "STRASSE", "ΟΔΟΣ"], links=["l1"]),
    roster_entry("i2", codes=["WINTER"], links=["l2"]),
]


@pytest.mark.parametrize(
    ("promo_code", "link_id", "influencer", "channel"),
    [
        ("SUMMER10", None, "i1", "code"),
        ("summer10", None, "i1", "code"),
        ("Summer10", None, "i1", "code"),
        ("straße", None, "i1", "code"),  # casefold("straße") == casefold("STRASSE")
        ("Strasse", None, "i1", "code"),
        ("οδος", None, "i1", "code"),  # final sigma folds like capital sigma
        ("winter", "l1", "i2", "code"),  # code before link
        ("nope", "l2", "i2", "link"),  # unknown code falls back to the link
        (None, "l1", "i1", "link"),
        (None, "L1", None, "unattributed"),  # link ids are ids, compared exactly
        ("nope", "nolink", None, "unattributed"),
        (None, None, None, "unattributed"),
    ],
)
def test_attribution(
    promo_code: str | None, link_id: str | None, influencer: str | None, channel: str
) -> None:
    engine = engine_with(
        campaign(roster=ROSTER),
        order(promo_code=promo_code, link_id=link_id, amount_minor=700),
    )
    assert kpi(engine, f"orders_{channel}") == 1
    assert kpi(engine, "orders") == 1
    assert kpi(engine, "revenue_minor") == 700
    influencer_sets = [s for s in engine.all_sets() if s.scope == "influencer"]
    if influencer is None:
        assert influencer_sets == []
    else:
        assert {s.scope_id for s in influencer_sets} == {influencer}
        for window in ("all", "1d", "1h"):
            values = kpis(engine, "influencer", influencer, window, start=T0)
            assert values is not None
            assert values[f"orders_{channel}"] == 1
            assert values["orders"] == 1
            assert values["revenue_minor"] == 700
            assert "orders_unattributed" not in values
    for window in ("1d", "1h", "1m"):
        assert kpi(engine, f"orders_{channel}", window=window, start=T0) == 1


@pytest.mark.parametrize(
    ("occurred", "in_window"),
    [
        ("2026-11-10T00:00:00Z", True),  # ends_at
        ("2026-11-16T23:59:59.999999Z", True),
        ("2026-11-17T00:00:00Z", True),  # exactly ends_at + 7 days
        ("2026-11-17T00:00:00.000001Z", False),
        ("2026-12-01T00:00:00Z", False),
        ("2026-10-01T00:00:00Z", True),  # before starts_at: only the end bounds orders
    ],
)
def test_attribution_window(occurred: str, in_window: bool) -> None:
    engine = engine_with(
        campaign(starts_at="2026-11-01T00:00:00Z", ends_at="2026-11-10T00:00:00Z",
                 roster=ROSTER),
        order(occurred, promo_code="summer10", amount_minor=500),
    )
    assert kpi(engine, "orders") == int(in_window)
    assert kpi(engine, "orders_code") == int(in_window)
    assert kpi(engine, "revenue_minor") == 500 * in_window
    assert kpi(engine, "orders_out_of_window") == int(not in_window)
    if in_window:
        assert kpi(engine, "orders", "influencer", "i1") == 1
    else:
        assert kpi(engine, "orders", "influencer", "i1") in (None, 0)
        assert kpi(engine, "orders", window="1h", start=occurred) in (None, 0)


@pytest.mark.parametrize(
    ("days", "occurred", "in_window"),
    [
        (0, "2026-11-10T00:00:00Z", True),
        (0, "2026-11-10T00:00:00.000001Z", False),
        (90, "2027-02-08T00:00:00Z", True),
        (90, "2027-02-08T00:00:01Z", False),
    ],
)
def test_attribution_window_days(days: int, occurred: str, in_window: bool) -> None:
    engine = engine_with(
        campaign(ends_at="2026-11-10T00:00:00Z", attribution_window_days=days),
        order(occurred),
    )
    assert kpi(engine, "orders") == int(in_window)
    assert kpi(engine, "orders_out_of_window") == int(not in_window)


def test_currency_mismatch_raises_and_counts_nothing() -> None:
    engine = engine_with(campaign(currency="EUR", roster=ROSTER))
    changed(engine)
    before = snapshot_of(engine)
    with pytest.raises(InvalidRecord) as caught:
        engine.apply(Topic.ORDERS, order(currency="USD", promo_code="SUMMER10"))
    assert caught.value.reason is Reason.CURRENCY_MISMATCH
    assert snapshot_of(engine) == before
    assert changed(engine) == []


def test_orders_before_any_definition_are_unattributed_without_checks() -> None:
    engine = engine_with(
        order("2030-01-01T00:00:00Z", currency="USD", promo_code="SUMMER10", link_id="l1"),
        campaign(currency="EUR", ends_at="2026-11-10T00:00:00Z", roster=ROSTER),
        order("2026-11-05T00:00:00Z", currency="EUR", promo_code="SUMMER10"),
    )
    assert kpi(engine, "orders_unattributed") == 1
    assert kpi(engine, "orders_code") == 1
    assert kpi(engine, "orders") == 2
    assert kpi(engine, "orders_out_of_window") == 0
    assert kpi(engine, "orders", "influencer", "i1") == 1


def test_orders_use_the_definition_in_force_when_processed() -> None:
    engine = engine_with(
        campaign("2026-11-01T00:00:00Z", roster=[roster_entry("i1", codes=["A"])]),
        order(promo_code="a"),
        campaign("2026-11-01T01:00:00Z", roster=[roster_entry("i2", codes=["A"])]),
        order(promo_code="a"),
    )
    assert kpi(engine, "orders", "influencer", "i1") == 1
    assert kpi(engine, "orders", "influencer", "i2") == 1
    assert kpi(engine, "orders_code") == 2


def test_aov_and_revenue_over_orders() -> None:
    engine = engine_with(
        campaign(roster=ROSTER),
        order(amount_minor=100, promo_code="WINTER"),
        order(amount_minor=300, link_id="l2"),
        order(amount_minor=800),
    )
    assert kpi(engine, "revenue_minor") == 1200
    assert kpi(engine, "aov_minor") == 400.0
    assert kpi(engine, "aov_minor", "influencer", "i2") == 200.0
