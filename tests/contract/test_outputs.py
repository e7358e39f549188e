"""The product's outputs against the output schemas (contract 4, 5.2, v2).

Every KPI set an engine publishes, for hand-made and for random v2 inputs, is a valid
``kpi_snapshot``; and the schema refuses documents that break a placement rule of section 2.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from streams import codec
from streams.domain.errors import Reason

from ..unit.kpi_factories import (
    answer,
    campaign,
    click,
    conversion,
    engine_with,
    interaction,
    order,
    post,
    refund,
    review,
    roster_entry,
    snapshot,
)
from ..unit.test_domain_kpi_formulas import rich_events
from ..unit.v2_stream import final_sets, stream
from .support import valid_examples, validator


def values_of(engine_sets: Any) -> list[dict[str, Any]]:
    return [kpi_set.to_value(1_773_144_000_123) for kpi_set in engine_sets]


def assert_valid(values: list[dict[str, Any]]) -> None:
    snapshot_schema = validator("kpi_snapshot")
    for value in values:
        # what the KPI topic carries: JSON text, read back
        read = codec.loads(codec.dumps(value))
        errors = sorted(e.message[:200] for e in snapshot_schema.iter_errors(read))
        assert errors == [], (value["scope"], value["scope_id"], value["window"])


def test_the_rich_scenario_publishes_valid_kpi_snapshots() -> None:
    assert_valid(values_of(engine_with(*rich_events()).all_sets()))


def test_v2_edge_cases_publish_valid_kpi_snapshots() -> None:
    engine = engine_with(
        campaign(roster=[roster_entry("i1", tier="nano", links=["l1"])], budget_minor=10,
                 targets={"conversions": 1, "cost_per_conversion_minor": 5, "roas_net": 1}),
        post(post_id="p1", influencer_id="i2", cost_minor=7),
        # negative deltas in a window, a platform post, another influencer's snapshot
        snapshot("2026-11-02T10:05:00Z", post_id="p1", influencer_id="i1", impressions=100,
                 likes=10, reach=50),
        snapshot("2026-11-02T11:05:00Z", post_id="p1", influencer_id="i2", impressions=40,
                 likes=2),
        snapshot("2026-11-02T10:00:00Z", post_id="p1", likes=99),  # stale
        order(order_id="o1", amount_minor=500, link_id="l1"),
        refund("2026-11-03T10:00:00Z", order_id="o1", amount_minor=500),
        refund(order_id="nope"),
        conversion(action="contest_entry", link_id="l1", value_minor=10**12, currency="EUR"),
        conversion("2026-12-31T00:00:00Z"),  # out of window
        answer(respondent_id="u1"), answer(respondent_id="u2", group="control"),
        answer(respondent_id="u3", question="intent", positive=False),
        review(), click(post_id="p1", visitor_id="v"), interaction(post_id="p2"),
    )
    assert_valid(values_of(engine.all_sets()))


@pytest.mark.parametrize("seed", range(6))
def test_random_v2_streams_publish_valid_kpi_snapshots(seed: int) -> None:
    sets = final_sets(stream(seed, 600))
    values = []
    for key, kpis in sets.items():
        cid, scope, scope_id, window, start = key.split("|")
        start_s = None if start == "all" else int(start)
        size = {"1d": 86_400, "1h": 3_600, "1m": 60}.get(window)
        values.append({
            "schema_version": 2, "campaign_id": cid, "scope": scope, "scope_id": scope_id,
            "window": window, "window_start": start_s,
            "window_end": None if start_s is None or size is None else start_s + size,
            "kpis": kpis, "updated_at": 1,
        })
    assert_valid(values)


def _example(name: str) -> dict[str, Any]:
    return copy.deepcopy(dict(valid_examples("kpi_snapshot"))[f"kpi_snapshot/{name}"])


def _mutate(name: str, **kpis: Any) -> dict[str, Any]:
    document = _example(name)
    for kpi, value in kpis.items():
        if value is None:
            del document["kpis"][kpi]
        else:
            document["kpis"][kpi] = value
    return document


BAD_SNAPSHOTS = {
    "schema_version_1": {**_example("post_all"), "schema_version": 1},
    "tier_at_campaign_scope": _mutate("campaign_all", tier="nano"),
    "tier_in_a_window": _mutate("influencer_hour", tier="nano"),
    "post_attribute_at_influencer_scope": _mutate("influencer_all_tier", platform="x"),
    "metrics_source_unknown": _mutate("post_all", metrics_source="api"),
    "published_at_fraction": _mutate("post_all", published_at=1.5),
    "influencer_id_not_an_id": _mutate("post_all", influencer_id="a b"),
    "brand_lift_at_influencer_scope": _mutate(
        "influencer_all_tier",
        brand_lift={"recall": {"exposed": 1, "exposed_positive": 1, "control": 0,
                               "control_positive": 0}}),
    "brand_lift_lift_without_control": _mutate(
        "campaign_all",
        brand_lift={"recall": {"exposed": 1, "exposed_positive": 1, "control": 0,
                               "control_positive": 0, "lift": 1.0}}),
    "brand_lift_no_lift_with_both_groups": _mutate(
        "campaign_all",
        brand_lift={"recall": {"exposed": 1, "exposed_positive": 1, "control": 1,
                               "control_positive": 0}}),
    "brand_lift_relative_lift_without_control_positive": _mutate(
        "campaign_all",
        brand_lift={"recall": {"exposed": 1, "exposed_positive": 1, "control": 1,
                               "control_positive": 0, "lift": 1.0, "relative_lift": 0.0}}),
    "brand_lift_z_without_positive_answers": _mutate(
        "campaign_all",
        brand_lift={"recall": {"exposed": 1, "exposed_positive": 0, "control": 1,
                               "control_positive": 0, "lift": 0.0, "z": 0.0}}),
    "brand_lift_question_without_answers": _mutate(
        "campaign_all",
        brand_lift={"recall": {"exposed": 0, "exposed_positive": 0, "control": 0,
                               "control_positive": 0}}),
    "brand_lift_unknown_question": _mutate(
        "campaign_all",
        brand_lift={"loyalty": {"exposed": 1, "exposed_positive": 0, "control": 1,
                                "control_positive": 0, "lift": 0.0}}),
    "brand_lift_empty": _mutate("campaign_all", brand_lift={}),
    "conversions_without_conversions_by_action": _mutate("campaign_minute",
                                                         conversions_by_action=None),
    "conversions_by_action_zero": _mutate("campaign_minute", conversions_by_action={"lead": 0}),
    "conversions_by_action_unknown_action": _mutate("campaign_minute",
                                                    conversions_by_action={"purchase": 1}),
    "conversions_at_post_scope": _mutate("post_all", conversions=1,
                                         conversions_by_action={"lead": 1}),
    "refunds_at_post_scope": _mutate("post_all", refunds=0),
    "reach_sum_in_a_window": _mutate("influencer_hour", reach_sum=3),
    "reach_sum_at_post_scope": _mutate("post_all", reach_sum=3),
    "stale_snapshots_at_influencer_scope": _mutate("influencer_all_tier", stale_snapshots=0),
    "survey_responses_in_a_window": _mutate("campaign_minute", survey_responses=1),
    "refunds_unmatched_in_a_window": _mutate("campaign_minute", refunds_unmatched=1),
    "conversions_unattributed_at_influencer_scope": _mutate("influencer_all_tier",
                                                            conversions_unattributed=0),
    "reach_in_a_minute": _mutate("campaign_minute", reach=1),
    "roas_net_in_a_window": _mutate("influencer_hour", roas_net=1.0),
    "cost_per_conversion_in_a_window": _mutate("campaign_minute",
                                               cost_per_conversion_minor=1.0),
    "negative_posts": _mutate("campaign_minute", posts=-1),
    "negative_refunds": _mutate("influencer_hour_negative_deltas", refunds=-1),
    "negative_reach_sum": _mutate("influencer_all_tier", reach_sum=-1),
    "negative_aov": _mutate("campaign_all", aov_minor=-1.0),
    "counter_as_float": _mutate("campaign_minute", likes=5.0),
    "target_progress_of_an_object": _mutate("campaign_all",
                                            target_progress={"brand_lift": 1.0}),
    "target_progress_of_an_attribute": _mutate("campaign_all", target_progress={"tier": 1.0}),
    "unknown_kpi": _mutate("campaign_all", emv_minor=5),
    "minute_window_not_aligned": {**_example("campaign_minute"), "window_start": 1773144061},
}


@pytest.mark.parametrize("name", sorted(BAD_SNAPSHOTS))
def test_the_snapshot_schema_refuses_what_the_contract_does_not_place(name: str) -> None:
    assert not validator("kpi_snapshot").is_valid(BAD_SNAPSHOTS[name])


BAD_DEAD_LETTERS: dict[str, dict[str, Any]] = {
    "key_truncated_false": {"key_truncated": False},
    "key_truncated_with_null_key": {"key_truncated": True, "key": None, "key_encoding": None},
    "unknown_reason": {"reason": "refund_unmatched"},
    "key_over_64_kib": {"key": "k" * 65537},
}


@pytest.mark.parametrize("name", sorted(BAD_DEAD_LETTERS))
def test_the_dead_letter_schema_refuses(name: str) -> None:
    record = {**dict(valid_examples("dead_letter"))["dead_letter/utf8"], **BAD_DEAD_LETTERS[name]}
    assert not validator("dead_letter").is_valid(record)


def test_the_dead_letter_reasons_are_the_contract_ones() -> None:
    reasons = validator("dead_letter").schema["properties"]["reason"]["enum"]
    assert set(reasons) == set(Reason)
