"""Breakdowns by group: ratios of sums (streams.domain.breakdowns)."""

from __future__ import annotations

from streams.domain.breakdowns import breakdown, group_by


def test_ratios_of_sums_not_mean_ratios() -> None:
    a = {"posts": 1, "impressions": 100, "clicks_valid": 1, "engagements": 10, "reach": 80,
         "spend_minor": 1000}
    b = {"posts": 1, "impressions": 900, "clicks_valid": 27, "engagements": 90, "reach": 500,
         "spend_minor": 3000}
    values = breakdown([a, b])
    assert values["members"] == 2
    assert values["impressions"] == 1000
    assert values["ctr"] == 28 / 1000  # not (0.01 + 0.03) / 2
    assert values["reach_sum"] == 580
    assert "reach" not in values
    assert "frequency" not in values  # reach is not additive
    assert values["engagement_rate_by_reach_sum"] == 100 / 580
    assert values["cpm_minor"] == 4000 * 1000 / 1000


def test_v2_reach_sum_of_influencers_is_used_and_zero_denominators_give_no_ratio() -> None:
    values = breakdown([{"reach": 10, "reach_sum": 25, "impressions": 0, "clicks_valid": 0}])
    assert values["reach_sum"] == 25
    assert "ctr" not in values


def test_group_by_sorts_and_gathers_unknown() -> None:
    groups = group_by([("tiktok", {"posts": 1}), (None, {"posts": 2}), ("instagram",
                                                                          {"posts": 3})])
    assert list(groups) == ["instagram", "tiktok", "unknown"]
    assert groups["unknown"]["posts"] == 2
