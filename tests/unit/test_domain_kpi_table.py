"""The KPI table of streams.domain.kpis against contract 2 and 5.1, name by name."""

from __future__ import annotations

import pytest

from streams.domain.kpis import (
    ATTRIBUTES,
    COST_KPIS,
    KPI_NAMES,
    LEADERBOARD_KPIS,
    OBJECT_KPIS,
    PUBLISHED_COUNTERS,
    RATIO_NAMES,
    layout,
)
from streams.domain.vocabulary import Scope, Window

from .test_domain_kpi_formulas import CRITERIA, PLACES, expected_counters, expected_ratios

# Contract 2, the counter table (v1 and v2 rows), in its order.
CONTRACT_COUNTERS = (
    "posts", "influencers_active", "potential_reach", "spend_minor", "impressions", "views",
    "likes", "comments", "shares", "saves", "replies", "engagements", "reach", "clicks",
    "clicks_valid", "clicks_bot", "clicks_repeat", "orders", "orders_code", "orders_link",
    "orders_unattributed", "revenue_minor", "orders_out_of_window", "reviews",
    "duplicate_events", "late_events", "reach_sum", "stale_snapshots", "refunds",
    "refunded_minor", "revenue_net_minor", "refunds_unmatched", "conversions",
    "conversions_code", "conversions_link", "conversions_unattributed",
    "conversion_value_minor", "conversions_out_of_window", "survey_responses",
)
CONTRACT_RATIOS = (
    "engagement_rate_by_reach", "engagement_rate_by_impressions", "engagement_rate_by_views",
    "engagement_rate_by_followers", "frequency", "ctr", "conversion_rate", "aov_minor",
    "cpm_minor", "cpe_minor", "cpc_minor", "cpa_minor", "roas", "content_score",
    *(f"content_score_{c}" for c in CRITERIA), "budget_used", "roas_net",
    "engagement_rate_by_reach_sum", "cost_per_conversion_minor", "action_rate",
)


def test_the_counters_are_the_contract_ones() -> None:
    assert sorted(PUBLISHED_COUNTERS) == sorted(CONTRACT_COUNTERS)


def test_the_ratios_are_the_contract_ones() -> None:
    assert sorted(RATIO_NAMES) == sorted(CONTRACT_RATIOS)


def test_object_kpis_and_attributes() -> None:
    assert set(OBJECT_KPIS) == {"conversions_by_action", "brand_lift", "target_progress"}
    assert set(ATTRIBUTES) == {
        "influencer_id", "platform", "format", "published_at", "metrics_source", "tier",
        "objective",
    }


def test_targets_may_name_counters_and_ratios_only() -> None:
    # contract 2: object KPIs and attributes cannot be targets
    assert set(CONTRACT_COUNTERS) | set(CONTRACT_RATIOS) == KPI_NAMES
    assert not KPI_NAMES & (set(OBJECT_KPIS) | set(ATTRIBUTES))


def test_cost_kpis_are_the_contract_ones() -> None:
    assert {"cpm_minor", "cpe_minor", "cpc_minor", "cpa_minor",
                         "cost_per_conversion_minor"} == COST_KPIS


def test_leaderboards_are_the_contract_ones() -> None:
    # contract 5.1, v1 list plus the v2 reach_sum and conversions
    assert set(LEADERBOARD_KPIS) == {
        "engagements", "reach", "clicks_valid", "orders", "revenue_minor", "reach_sum",
        "conversions",
    }
    assert len(LEADERBOARD_KPIS) == len(set(LEADERBOARD_KPIS))


@pytest.mark.parametrize(("scope", "window"), PLACES)
def test_layout_of_each_place_is_the_contract_counter_table(scope: str, window: str) -> None:
    assert set(layout(Scope(scope), Window(window))) == expected_counters(scope, window)
    # the table's ratios live only where their place exists
    assert expected_ratios(scope, window) <= set(RATIO_NAMES)
