"""The campaign alert rules, each at its threshold, and the life of an alert record."""

from __future__ import annotations

from dataclasses import fields

import pytest

from streams.config import _ALERT_DOCS, Settings
from streams.domain.alerts import (
    BOT_CLICKS,
    BUDGET_AHEAD,
    FEED_SILENT,
    KPI_DROP,
    KPI_SPIKE,
    LEAKED_CODE,
    OPEN,
    PACING_BEHIND,
    RESOLVED,
    AlertRules,
    CampaignView,
    Firing,
    evaluate,
    follow,
)

HOUR = 3_600_000_000
DAY = 24 * HOUR
START = 1_780_000_000 * 1_000_000 // HOUR * HOUR
RULES = AlertRules()


def view(**overrides: object) -> CampaignView:
    base: dict[str, object] = {
        "campaign_id": "c1", "now_us": START + 5 * DAY, "objective": "conversion",
        "starts_us": START, "ends_us": START + 10 * DAY,
    }
    base.update(overrides)
    return CampaignView(**base)  # type: ignore[arg-type]


def rules_fired(v: CampaignView, rules: AlertRules = RULES) -> list[tuple[str, str]]:
    return [(f.rule, f.scope_id) for f in evaluate(v, rules)]


@pytest.mark.parametrize(
    ("progress", "fired"),
    [(0.39, True), (0.40, False), (0.6, False)],  # half the schedule: pace = progress / 0.5
)
def test_pacing_behind_fires_under_the_pace_threshold(progress: float, fired: bool) -> None:
    v = view(totals={"target_progress": {"orders": progress}})
    assert ((PACING_BEHIND, "orders") in rules_fired(v)) is fired


def test_pacing_is_not_judged_early_nor_after_the_end() -> None:
    early = view(now_us=START + DAY // 2, totals={"target_progress": {"orders": 0.0}})
    assert rules_fired(early) == []  # 5 % of the schedule, under the 10 % floor
    after = view(now_us=START + 11 * DAY, totals={"target_progress": {"orders": 0.1}})
    assert rules_fired(after) == []


def test_a_cost_target_is_behind_when_the_cost_runs_high() -> None:
    # cpa at 3x its target after half the schedule: pace 1 / (3 * 0.5) = 0.67 < 0.8
    v = view(totals={"target_progress": {"cpa_minor": 3.0}})
    firing = next(f for f in evaluate(v, RULES) if f.rule == PACING_BEHIND)
    assert firing.severity == "warning"
    assert firing.figures["pace"] == pytest.approx(2 / 3, abs=1e-5)


def hourly(values: list[int], last: int) -> dict[int, int]:
    """24 baseline hours of ``values`` (cycled), then the last complete hour."""
    now_hour = START + 30 * HOUR
    series = {now_hour - (i + 2) * HOUR: values[i % len(values)] for i in range(24)}
    series[now_hour - HOUR] = last
    return series


@pytest.mark.parametrize(("last", "drop", "spike"), [(24, True, False), (25, False, False),
                                                     (301, False, True), (300, False, False)])
def test_trend_rules_compare_the_last_hour_with_the_day_before(
    last: int, drop: bool, spike: bool
) -> None:
    v = view(now_us=START + 30 * HOUR + 5, hourly=hourly([100], last))
    fired = {rule for rule, _ in rules_fired(v)}
    assert (KPI_DROP in fired) is drop
    assert (KPI_SPIKE in fired) is spike


def test_no_trend_on_too_few_events_or_too_short_a_history() -> None:
    quiet = view(now_us=START + 30 * HOUR, hourly=hourly([20], 0))
    assert KPI_DROP not in {r for r, _ in rules_fired(quiet)}  # baseline under 30 per hour
    young = view(now_us=START + 5 * HOUR, hourly={START + h * HOUR: 100 for h in range(4)})
    assert rules_fired(young) == []


@pytest.mark.parametrize(
    ("clicks", "bots", "fired"), [(50, 8, True), (50, 7, False), (49, 40, False)]
)
def test_bot_clicks_on_a_link_with_enough_clicks(clicks: int, bots: int, fired: bool) -> None:
    v = view(links={"l1": (clicks, bots)})
    assert ((BOT_CLICKS, "l1") in rules_fired(v)) is fired


@pytest.mark.parametrize(("orders", "clicks", "fired"), [(5, 0, True), (4, 0, False),
                                                         (9, 1, False)])
def test_a_leaked_code_is_code_orders_without_clicks(orders: int, clicks: int, fired: bool) -> None:
    v = view(influencers={"i1": (orders, clicks)})
    assert ((LEAKED_CODE, "i1") in rules_fired(v)) is fired


@pytest.mark.parametrize(("now_days", "used", "fired"), [
    (5, 1.01, True),  # over budget before the end
    (2, 0.71, True),  # 20 % of the schedule, 71 % spent: more than 0.5 ahead
    (2, 0.70, False),
    (5, 1.00, False),
])
def test_budget_ahead_of_the_schedule(now_days: int, used: float, fired: bool) -> None:
    v = view(now_us=START + now_days * DAY, totals={"budget_used": used})
    assert ((BUDGET_AHEAD, "c1") in rules_fired(v)) is fired


def test_a_silent_feed_only_while_in_flight() -> None:
    assert rules_fired(view(silent_s=1800, in_flight=True)) == [(FEED_SILENT, "c1")]
    assert rules_fired(view(silent_s=1799, in_flight=True)) == []
    assert rules_fired(view(silent_s=9999, in_flight=False)) == []


def test_an_alert_opens_refreshes_and_resolves() -> None:
    firing = Firing(BOT_CLICKS, "link", "l1", "warning", "m", {"clicks": 60})
    opened = follow("c1", {}, [firing], 1000)
    assert [(r.state, r.first_seen, r.last_seen) for r in opened] == [(OPEN, 1000, 1000)]
    held = {r.key: r for r in opened}
    assert follow("c1", held, [firing], 2000) == []  # nothing new: nothing written
    worse = Firing(BOT_CLICKS, "link", "l1", "critical", "m", {"clicks": 90})
    refreshed = follow("c1", held, [worse], 3000)
    assert [(r.severity, r.first_seen, r.last_seen) for r in refreshed] == [
        ("critical", 1000, 3000)
    ]
    held = {r.key: r for r in refreshed}
    resolved = follow("c1", held, [], 4000)
    assert [(r.state, r.resolved_at) for r in resolved] == [(RESOLVED, 4000)]
    # a rule not evaluated keeps its state
    assert follow("c1", held, [], 5000, only=[FEED_SILENT]) == []


def test_every_threshold_is_a_documented_setting() -> None:
    assert set(_ALERT_DOCS) == {f.name for f in fields(AlertRules)}
    settings = Settings.from_env({"KPI_ALERT_BOT_MIN_CLICKS": "10", "KPI_ALERT_DROP_BELOW": "0.3"})
    assert settings.alert_rules().bot_min_clicks == 10
    assert settings.alert_rules().drop_below == 0.3
