"""Headline KPIs per objective, pacing and percentile ranks (streams.domain.objectives)."""

from __future__ import annotations

import math

import pytest

from streams.domain.kpis import COST_KPIS, KPI_NAMES
from streams.domain.objectives import (
    AHEAD,
    AHEAD_FROM,
    BEHIND,
    BEHIND_BELOW,
    HEADLINE_KPIS,
    LEVEL_KPIS,
    MET,
    MISSED,
    NOT_STARTED,
    ON_TRACK,
    elapsed_share,
    headline_kpis,
    lower_is_better,
    pace,
    pacing,
    percentile_rank,
)
from streams.report.formatting import V2_KPIS


def test_headline_kpis_in_order() -> None:
    assert headline_kpis("awareness") == (
        "reach", "reach_sum", "impressions", "frequency", "cpm_minor"
    )
    assert headline_kpis("engagement")[0] == "engagements"
    assert headline_kpis("engagement")[-1] == "cpe_minor"
    assert headline_kpis("conversion")[:3] == ("clicks_valid", "ctr", "orders")
    assert headline_kpis(None) == ()
    assert headline_kpis("sales") == ()


def test_every_headline_kpi_is_a_contract_kpi() -> None:
    for names in HEADLINE_KPIS.values():
        for name in names:
            assert name in KPI_NAMES or name in V2_KPIS, name


def test_cost_kpis_are_lower_is_better() -> None:
    assert {
        "cpm_minor", "cpe_minor", "cpc_minor", "cpa_minor", "cost_per_conversion_minor"
    } == COST_KPIS
    assert lower_is_better("cpa_minor")
    assert not lower_is_better("roas")


@pytest.mark.parametrize(
    ("now", "expected"), [(-5, 0.0), (0, 0.0), (25, 0.25), (100, 1.0), (150, 1.0)]
)
def test_elapsed_share(now: float, expected: float) -> None:
    assert elapsed_share(now, 0, 100) == expected


def test_pace_higher_is_better_is_progress_over_elapsed() -> None:
    assert pace("reach", 0.5, 0.5) == 1.0
    assert pace("reach", 0.3, 0.6) == 0.5
    assert pace("reach", 0.5, 0.0) is None


def test_pace_of_a_cost_is_inverted() -> None:
    # Spend over results: at half time a cost at twice its target is on schedule.
    assert pace("cpm_minor", 2.0, 0.5) == 1.0
    assert pace("cpm_minor", 1.0, 1.0) == 1.0
    assert pace("cpm_minor", 0.0, 0.5) == math.inf


def test_a_rate_is_paced_by_its_level_not_by_the_schedule() -> None:
    # An engagement rate at 70 % of its target is behind whenever it is read: it does not
    # grow with time the way engagements do.
    for elapsed in (0.1, 0.5, 0.9):
        assert pace("engagement_rate_by_reach", 0.7, elapsed) == 0.7
        assert pacing("ctr", 0.7, elapsed).status == "behind"
    assert pace("engagement_rate_by_reach", 0.7, 0.0) is None
    assert pacing("content_score", 1.0, 0.5).status == "on track"
    # Ratios over spend accrue like counters: revenue comes in on spend booked early.
    assert pace("roas", 0.25, 0.5) == 0.5
    assert {"ctr", "frequency", "aov_minor", "content_score"} <= LEVEL_KPIS
    assert not {"roas", "roas_net", "cpm_minor", "reach", "budget_used"} & LEVEL_KPIS


def test_pacing_matches_the_prometheus_alert_factor() -> None:
    # CampaignKpiBehindTargetPace: progress < 0.8 x elapsed share.
    assert BEHIND_BELOW == 0.8
    assert pacing("reach", 0.79 * 0.5, 0.5).status == BEHIND
    assert pacing("reach", 0.8 * 0.5, 0.5).status == ON_TRACK
    # CampaignKpiCostAboveTargetPace: progress x 0.8 x elapsed > 1.
    assert pacing("cpa_minor", 1 / (0.8 * 0.5) + 0.01, 0.5).status == BEHIND
    assert pacing("cpa_minor", 1 / (0.8 * 0.5) - 0.01, 0.5).status == ON_TRACK


def test_pacing_statuses() -> None:
    assert pacing("reach", AHEAD_FROM * 0.5, 0.5).status == AHEAD
    assert pacing("reach", 0.5, 0.0).status == NOT_STARTED
    assert pacing("reach", 1.0, 1.0).status == MET
    assert pacing("reach", 0.99, 1.0).status == MISSED
    assert pacing("cpa_minor", 1.0, 1.0).status == MET
    assert pacing("cpa_minor", 1.01, 1.0).status == MISSED
    unknown = pacing("reach", 0.5, None)
    assert unknown.status is None
    assert unknown.pace is None
    assert pacing("cpa_minor", 0.9, None).target_reached


def test_percentile_rank() -> None:
    assert percentile_rank(5, [], "reach") is None
    assert percentile_rank(5, [1, 2, 3, 4], "reach") == 100.0
    assert percentile_rank(5, [6, 7], "reach") == 0.0
    assert percentile_rank(5, [5, 1], "reach") == 75.0
    # Lower is better for costs.
    assert percentile_rank(5, [6, 7], "cpm_minor") == 100.0


def test_attained_fills_a_bar_towards_the_target() -> None:
    assert pacing("reach", 0.25, 0.5).attained == 0.25
    assert pacing("reach", 1.7, 0.5).attained == 1.0
    # A cost three times its target has a third of the way to go, not the whole bar.
    assert pacing("cpm_minor", 3.0, 0.5).attained == pytest.approx(1 / 3)
    assert pacing("cpm_minor", 0.5, 0.5).attained == 1.0
    assert pacing("cpa_minor", 0.0, 0.5).attained == 1.0
