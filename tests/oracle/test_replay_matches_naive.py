"""The product's batch replay agrees with the naive oracle, value by value.

The oracle (``naive.py``) and the input generator (``generate.py``) are written from the
contract only; the product is called through its command line and nothing else.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .compare import compare_dlq, compare_values, reach_errors, report
from .generate import Generated, generate
from .naive import CONVERSION_ACTIONS, Result, key_of, run
from .timefmt import parse_time

ROOT = Path(__file__).resolve().parents[2]
# The command line of this checkout (run from ROOT); the console script would run wherever
# the package was installed from.
PRODUCT = [sys.executable, "-m", "streams.cli"]


@dataclass(frozen=True)
class Profile:
    name: str
    seed: int
    size: int
    big_reach: bool = False
    v2_heavy: bool = False


PROFILES = [
    Profile("default-s1", 1, 10_000),
    Profile("default-s7", 7, 4_000),
    Profile("big-reach", 3, 30_000, big_reach=True),
    Profile("v2-heavy", 11, 22_000, v2_heavy=True),
]
REQUIRED_FEATURES = [
    "definition", "definition_v2", "redefinition_newer", "redefinition_older",
    "redefinition_tie", "redefinition_currency", "post", "post_by_unrostered",
    "dup_post_id_new_event_id", "count_gt_1", "offset_across_midnight", "day_boundary",
    "hour_boundary", "click_bot_ua", "bot_marker", "repeat_click_series", "click_without_post",
    "click_without_visitor", "order_by_code", "order_by_link", "order_unattributed",
    "order_out_of_window", "order_at_window_end", "order_currency_mismatch",
    "order_before_definition", "order_casefold_sz", "dup_order_id_new_event_id",
    "review", "re_review_newer", "re_review_older", "re_review_tie",
    "re_review_other_influencer", "dup_exact_campaigns", "dup_exact_posts",
    "dup_exact_interactions", "dup_exact_clicks", "dup_exact_orders", "dup_exact_reviews",
    "resend_interaction_beyond_horizon", "resend_click_beyond_horizon", "interaction_late",
    "click_late", "kafka_timestamp", "bad_future_timestamp", "future_timestamp_boundary_ok",
    "bad_malformed_json", "bad_schema_violation", "bad_key", "bad_type", "bad_too_large",
    "bad_line", "bare_line", "null_field", "null_score", "unknown_field",
]
# Contract v2 (each planted in the mix of every campaign, in cmp-edge2, or both).
REQUIRED_FEATURES_V2 = [
    # post_metrics (1.4.1)
    "snapshot", "snapshot_source_first", "source_mismatch_interaction",
    "source_mismatch_snapshot", "snapshot_newer", "snapshot_stale", "snapshot_tie",
    "snapshot_metric_absent", "snapshot_decrease", "snapshot_zero_delta", "snapshot_unchanged",
    "snapshot_late", "snapshot_late_stale", "snapshot_delayed", "snapshot_delayed_late",
    "snapshot_platform_reach", "snapshot_names_other_influencer", "snapshot_metric_max",
    "snapshot_stale_other_influencer", "dup_exact_snapshots", "dup_of_stale_snapshot",
    "resend_snapshot_beyond_horizon", "dup_of_source_mismatch",
    "dup_event_id_over_source_mismatch", "bad_snapshot_no_metric", "bad_snapshot_metric",
    "source_per_campaign",
    # order_refund (1.6.1)
    "refund_full", "refund_partial", "refund_partial_exact_sum", "refund_exceeds",
    "refund_exceeds_copy", "refund_exceeds_zero_order", "refund_attributed", "refund_max",
    "refund_unmatched_never_seen", "refund_unmatched_out_of_window",
    "refund_unmatched_currency_mismatch", "refund_unmatched_rejected_order",
    "refund_before_order", "refund_dup_of_unmatched", "refund_currency_mismatch",
    "refund_dup_refund_id", "dup_exact_refunds", "refund_id_of_rejected_refund",
    "refund_event_id_of_order", "refund_event_id_of_rejected_order",
    "refund_id_equals_order_id", "refund_late", "refund_before_definition", "bad_refund",
    # conversion (1.9)
    *[f"conversion_{action}" for action in CONVERSION_ACTIONS],
    "conversion_code", "conversion_link", "conversion_unattributed",
    "conversion_value_currency", "conversion_currency_no_value", "conversion_no_value",
    "conversion_value_max", "conversion_currency_mismatch",
    "conversion_currency_mismatch_no_value", "conversion_out_of_window",
    "conversion_at_window_end", "conversion_dup_id", "dup_exact_conversions",
    "conversion_before_definition", "conversion_late",
    "bad_conversion_value_without_currency", "bad_conversion",
    # survey_response (1.10)
    "survey", "survey_newer", "survey_older", "survey_tie", "survey_group_change",
    "survey_one_group_only", "survey_pooled_zero", "survey_late", "survey_late_older",
    "dup_exact_surveys", "bad_survey_boolean", "bad_survey",
    # reach_sum, attributes, checks, clicks
    "reach_sum_unpublished_post", "dup_post_id_other_platform", "redefinition_changes_tier",
    "roster_listed_twice", "published_at_before_epoch", "re_review_older_other_influencer",
    "late_click_never_repeat", "late_valid_click_makes_repeat",
    "dup_after_definition_currency_mismatch", "bad_type_v2",
]
REQUIRED_FEATURES_HEAVY = ["big_sum_post", "big_sum_interaction", "big_sum_order"]
ALL_REASONS = ["too_large", "malformed_json", "schema_violation", "type_mismatch",
               "key_mismatch", "future_timestamp", "currency_mismatch", "source_mismatch",
               "refund_exceeds_order"]


@pytest.fixture(scope="module", params=PROFILES, ids=lambda p: p.name)
def case(request: pytest.FixtureRequest) -> tuple[Profile, Generated, Result]:
    profile: Profile = request.param
    g = generate(profile.seed, profile.size, big_reach=profile.big_reach,
                 v2_heavy=profile.v2_heavy)
    return profile, g, run(g.lines, g.schema_invalid)


# ---- the generator and the oracle on their own -----------------------------------------


def test_generator_is_deterministic() -> None:
    assert generate(5, 2000).lines == generate(5, 2000).lines
    assert generate(5, 2000).lines != generate(6, 2000).lines


def test_profile_contains_every_feature(case: tuple[Profile, Generated, Result]) -> None:
    profile, g, _ = case
    required = REQUIRED_FEATURES + REQUIRED_FEATURES_V2
    if profile.v2_heavy:
        required += REQUIRED_FEATURES_HEAVY
    missing = [f for f in required if g.features[f] == 0]
    assert not missing, f"{profile.name}: features not planted: {missing}"
    assert 0.5 * profile.size <= len(g.lines) <= 1.5 * profile.size


def test_oracle_sees_the_planted_cases(case: tuple[Profile, Generated, Result]) -> None:
    profile, _, res = case
    reasons = Counter(d.reason for d in res.dead_letters)
    for reason in ALL_REASONS:
        assert reasons[reason] > 0, reason
    assert len(res.bad_lines) == 2
    campaigns = {v["campaign_id"]: v["kpis"] for v in res.values
                 if v["scope"] == "campaign" and v["window"] == "all"}
    assert set(campaigns) >= {"cmp-edge", "cmp-epoch"}
    edge = campaigns.pop("cmp-edge")
    # v1-v4 (v4 late), v6-v10, v12, v13, v15, v17 (v5 likes; v11 future; v14, v16 bad).
    assert edge["reach"] == 13
    assert edge["late_events"] == 4  # the 6 h + 1 us interaction; the last three orders
    assert edge["duplicate_events"] == 1
    assert edge["likes"] == 3  # the first copy, a duplicate, then counted again twice
    assert (edge["clicks_valid"], edge["clicks_repeat"], edge["clicks_bot"]) == (7, 1, 2)
    assert (edge["orders"], edge["orders_code"], edge["orders_link"]) == (6, 1, 2)
    assert edge["orders_out_of_window"] == 1
    assert edge["target_progress"] == {"orders": 3.0, "conversion_rate": 2 / 7 / 0.1}
    assert "budget_used" not in edge
    assert "cmp-edge|influencer|i-e3|all|all" in res.by_key()
    assert res.by_key()["cmp-edge|influencer|i-e3|all|all"]["kpis"]["reviews"] == 0
    assert "cmp-epoch|campaign|cmp-epoch|1d|-86400" in res.by_key()
    assert "cmp-epoch|campaign|cmp-epoch|1m|4133982600" in res.by_key()
    campaigns.pop("cmp-epoch")
    campaigns.pop("cmp-edge2")
    big = campaigns.pop("cmp-big-sums", None)
    assert (big is not None) == profile.v2_heavy
    if big is not None:  # contract 5: sums pass 64 bits, exactly
        assert big["potential_reach"] > 2**63
        assert big["spend_minor"] > 2**63
        assert res.by_key()["cmp-big-sums|influencer|i-big-1|all|all"]["kpis"][
            "potential_reach"] > 2**63
    assert len(campaigns) == 5
    total = Counter[str]()
    for kpis in campaigns.values():
        total.update({k: v for k, v in kpis.items() if isinstance(v, int)})
    for counter in ["duplicate_events", "late_events", "clicks_bot", "clicks_repeat",
                    "orders_code", "orders_link", "orders_unattributed",
                    "orders_out_of_window", "reviews", "stale_snapshots", "refunds",
                    "refunds_unmatched", "conversions", "conversions_code", "conversions_link",
                    "conversions_unattributed", "conversions_out_of_window",
                    "survey_responses", "reach_sum"]:
        assert total[counter] > 0, counter
    for topic in ["interactions", "clicks", "orders", "conversions", "surveys"]:
        assert res.late_by_topic.get(topic, 0) > 0, topic
    sources = Counter(v["kpis"].get("metrics_source") for v in res.values
                      if v["scope"] == "post")
    assert sources["events"] > 0
    assert sources["platform"] > 0
    assert all("brand_lift" in kpis for kpis in campaigns.values())
    reach = [k["reach"] for k in campaigns.values()]
    if profile.big_reach:
        assert min(reach) > 100
    else:
        assert max(reach) < 100
    windows = Counter(v["window"] for v in res.values)
    assert set(windows) == {"all", "1d", "1h", "1m"}
    scopes = Counter(v["scope"] for v in res.values)
    assert set(scopes) == {"campaign", "influencer", "post"}


def test_oracle_reads_the_contract_on_hand_made_lines() -> None:
    cid = "c1"

    def ev(typ: str, eid: str, at: str, **kw: Any) -> str:
        return json.dumps({"event_id": eid, "type": typ, "occurred_at": at,
                           "campaign_id": cid, **kw})

    click = {"link_id": "l1", "influencer_id": "i1", "channel": "link", "visitor_id": "v"}
    lines = [
        ev("campaign", "d1", "2024-06-01T00:00:00Z", name="n", objective="conversion",
           starts_at="2024-06-01T00:00:00Z", ends_at="2024-06-02T00:00:00Z",
           currency="EUR", attribution_window_days=0,
           influencers=[{"influencer_id": "i1", "promo_codes": ["Straße"],
                         "link_ids": ["l1"]}]),
        ev("click", "k1", "2024-06-01T10:00:00Z", **click),
        ev("click", "k2", "2024-06-01T10:29:00Z", **click),
        ev("click", "k3", "2024-06-01T10:31:00Z", **click),
        ev("click", "k4", "2024-06-01T10:32:00Z", **dict(click, user_agent="x WGET/1")),
        ev("order", "o1", "2024-06-02T00:00:00Z", order_id="A", amount_minor=10,
           currency="EUR", promo_code="STRASSE"),
        ev("order", "o2", "2024-06-02T00:00:00.000001Z", order_id="B", amount_minor=10,
           currency="EUR", link_id="l1"),
        ev("order", "o3", "2024-06-01T12:00:00Z", order_id="A", amount_minor=10,
           currency="EUR"),
        ev("click", "k5", "2024-06-01T01:00:00+02:00", **click),  # 23:00Z the day before
    ]
    res = run(lines, set())
    kpis = res.by_key()[f"{cid}|campaign|{cid}|all|all"]["kpis"]
    assert (kpis["clicks_valid"], kpis["clicks_repeat"], kpis["clicks_bot"]) == (3, 1, 1)
    assert (kpis["orders"], kpis["orders_code"], kpis["orders_out_of_window"]) == (1, 1, 1)
    assert kpis["duplicate_events"] == 1
    assert kpis["late_events"] == 1
    assert f"{cid}|campaign|{cid}|1d|1717200000" in res.by_key()  # 2024-06-01
    assert f"{cid}|campaign|{cid}|1h|1717196400" not in res.by_key()  # the late click
    assert kpis["objective"] == "conversion"
    assert "target_progress" not in kpis
    assert "budget_used" not in kpis


def test_oracle_reads_contract_v2_on_hand_made_lines() -> None:
    cid = "c2"

    def ev(typ: str, eid: str, at: str, **kw: Any) -> str:
        return json.dumps({"event_id": eid, "type": typ, "occurred_at": at,
                           "campaign_id": cid, **kw})

    post = {"post_id": "p", "influencer_id": "i"}
    refund = {"order_id": "A", "currency": "EUR"}
    lines = [
        ev("campaign", "d1", "2024-06-01T00:00:00Z", name="n", objective="awareness",
           starts_at="2024-06-01T00:00:00Z", ends_at="2024-06-09T00:00:00Z",
           currency="EUR"),
        ev("post_metrics", "s1", "2024-06-01T10:00:00Z", impressions=100, likes=5, **post),
        ev("post_metrics", "s2", "2024-06-01T11:00:00Z", impressions=90, reach=7, **post),
        ev("post_metrics", "s3", "2024-06-01T10:30:00Z", impressions=500, **post),  # stale
        ev("interaction", "x1", "2024-06-01T11:05:00Z", action="like", **post),
        ev("order", "o1", "2024-06-01T12:00:00Z", order_id="A", amount_minor=10,
           currency="EUR"),
        ev("order_refund", "r1", "2024-06-01T13:00:00Z", refund_id="R1", amount_minor=4,
           **refund),
        ev("order_refund", "r2", "2024-06-02T13:00:00Z", refund_id="R2", amount_minor=6,
           **refund),
        ev("order_refund", "r3", "2024-06-02T14:00:00Z", refund_id="R3", amount_minor=1,
           **refund),
        *[ev("survey_response", f"q{n}", "2024-06-01T12:00:00Z", respondent_id=f"u{n}",
             group=group, question="intent", positive=positive)
          for n, (group, positive) in enumerate([("exposed", True), ("exposed", True),
                                                  ("exposed", False), ("control", True),
                                                  ("control", False)])],
    ]
    res = run(lines, set())
    by_key = res.by_key()
    kpis = by_key[f"{cid}|campaign|{cid}|all|all"]["kpis"]
    assert (kpis["impressions"], kpis["likes"], kpis["stale_snapshots"]) == (90, 5, 1)
    assert kpis["reach"] == 0  # platform reach is not distinct viewers
    assert kpis["reach_sum"] == 7
    hour = by_key[f"{cid}|campaign|{cid}|1h|1717239600"]["kpis"]  # 11:00
    assert (hour["impressions"], hour["likes"]) == (-10, 0)
    assert "engagement_rate_by_impressions" in hour  # 0 / -10: a negative denominator
    assert by_key[f"{cid}|post|p|all|all"]["kpis"]["reach"] == 7
    assert by_key[f"{cid}|post|p|all|all"]["kpis"]["metrics_source"] == "platform"
    assert (kpis["refunds"], kpis["refunded_minor"], kpis["revenue_net_minor"]) == (2, 10, 0)
    day2 = by_key[f"{cid}|campaign|{cid}|1d|1717286400"]["kpis"]
    assert day2["revenue_net_minor"] == -6
    assert [(d.line_no, d.reason) for d in res.dead_letters] == [
        (5, "source_mismatch"), (9, "refund_exceeds_order")]
    lift = kpis["brand_lift"]["intent"]
    assert lift["lift"] == 2 / 3 - 1 / 2
    assert lift["relative_lift"] == (2 / 3 - 1 / 2) / (1 / 2)
    p = 3 / 5
    assert lift["z"] == (2 / 3 - 1 / 2) / math.sqrt(p * (1 - p) * (1 / 3 + 1 / 2))
    assert kpis["survey_responses"] == 5


def test_compare_flags_what_it_must() -> None:
    """The comparison is exact where the contract is: it must see these product mistakes."""
    g = generate(1, 2000)
    res = run(g.lines, g.schema_invalid)
    res.values = [v | {"updated_at": 0} for v in res.values]  # as a product writes them
    assert compare_values(res, copy.deepcopy(res.values)) == []
    mistakes: list[tuple[str, str, Any]] = [
        ("cmp-edge2|campaign|cmp-edge2|all|all", "reach_sum", 10**12 + 205.0),  # a float
        ("cmp-edge2|campaign|cmp-edge2|all|all", "refunds", 10),
        ("cmp-edge2|influencer|i-b|all|all", "tier", "nano"),  # the older roster's
        ("cmp-edge2|post|p2-plat|all|all", "published_at", "1717417800"),  # text
        ("cmp-edge2|campaign|cmp-edge2|all|all", "conversions_by_action", {"lead": 2}),
    ]
    for key, name, wrong in mistakes:
        values = copy.deepcopy(res.values)
        target = next(v for v in values if key_of(v) == key)
        target["kpis"][name] = wrong
        assert compare_values(res, values), (key, name, wrong)
    values = copy.deepcopy(res.values)
    target = next(v for v in values if key_of(v) == "cmp-edge2|campaign|cmp-edge2|all|all")
    z = target["kpis"]["brand_lift"]["awareness"]["z"]
    target["kpis"]["brand_lift"]["awareness"]["z"] = math.nextafter(z, 0.0)  # one ulp
    assert compare_values(res, values)
    del target["kpis"]["brand_lift"]
    assert compare_values(res, values)


def test_a_missing_product_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys.modules[__name__], "PRODUCT", [str(tmp_path / "campaign-kpi")])
    assert _product_problem() is not None


def test_oracle_sees_the_v2_edges() -> None:
    """cmp-edge2 (generate._edges_v2), with the values worked out by hand from contract v2."""
    g = generate(1, 2000)
    res = run(g.lines, g.schema_invalid)
    by_key = res.by_key()

    def kpis(key: str) -> dict[str, Any]:
        return dict(by_key[f"cmp-edge2|{key}"]["kpis"])

    c = kpis("campaign|cmp-edge2|all|all")
    # Interactions 6 + snapshots 100 + 50 + 0 + 45 + 0 + 20 + 60 (late) - 10.
    assert c["impressions"] == 271
    assert (c["likes"], c["comments"], c["shares"], c["engagements"]) == (7, 3, 5, 15)
    assert c["reach"] == 6  # distinct viewers of interactions only
    # p2-events 6 + p2-plat 85 + p2-plat-late 50 + p2-unpub-plat 40 + p2-other-inf 9
    # + p2-max 10^12 + p2-rej-first 15.
    assert c["reach_sum"] == 10**12 + 205
    assert c["stale_snapshots"] == 5
    # Late w2 valid, the on-time w2 a repeat, the late w2 valid; w3 a repeat at the bound.
    assert (c["clicks_valid"], c["clicks_repeat"]) == (9, 2)
    assert (c["orders"], c["revenue_minor"]) == (6, 10**12 + 2700)
    assert (c["refunds"], c["refunded_minor"], c["revenue_net_minor"]) == (9, 10**12 + 1961, 739)
    assert (c["refunds_unmatched"], c["orders_out_of_window"]) == (4, 1)
    assert (c["conversions"], c["conversions_code"], c["conversions_link"],
            c["conversions_unattributed"]) == (6, 1, 3, 2)
    assert c["conversion_value_minor"] == 10**12 + 135
    assert c["conversions_by_action"] == {"lead": 2, "signup": 1, "app_install": 1, "other": 1,
                                          "subscription": 1}
    assert c["conversions_out_of_window"] == 1
    assert (c["duplicate_events"], c["late_events"]) == (13, 9)
    assert c["survey_responses"] == 13
    assert c["target_progress"] == {"conversions": 6 / 4, "roas_net": 739 / 1500 / 2,
                                    "reach_sum": (10**12 + 205) / 100,
                                    "cost_per_conversion_minor": 1500 / 6 / 10,
                                    "stale_snapshots": 5.0}
    lift = c["brand_lift"]
    aw = 2 / 3 - 1 / 3
    assert lift["awareness"] == {"exposed": 3, "exposed_positive": 2, "control": 3,
                                 "control_positive": 1, "lift": aw, "relative_lift": aw / (1 / 3),
                                 "z": aw / math.sqrt(0.5 * 0.5 * (1 / 3 + 1 / 3))}
    assert lift["recall"] == {"exposed": 1, "exposed_positive": 1, "control": 1,
                              "control_positive": 0, "lift": 1.0,
                              "z": 1.0 / math.sqrt(0.5 * 0.5 * 2)}
    assert lift["consideration"] == {"exposed": 1, "exposed_positive": 1, "control": 0,
                                     "control_positive": 0}
    assert lift["preference"]["lift"] == -1.0
    assert lift["preference"]["relative_lift"] == -1.0
    assert lift["intent"] == {"exposed": 1, "exposed_positive": 1, "control": 1,
                              "control_positive": 1, "lift": 0.0, "relative_lift": 0.0}
    # Influencers: deltas go where the record points, reach_sum follows post_published.
    a, b = kpis("influencer|i-a|all|all"), kpis("influencer|i-b|all|all")
    assert (a["impressions"], a["reach_sum"], a["tier"]) == (166, 141, "micro")
    assert (a["refunds"], a["revenue_net_minor"]) == (5, 540)
    assert (b["shares"], b["reach_sum"], b["tier"]) == (3, 9, "macro")  # redefined tier
    assert (b["refunds"], b["refunded_minor"]) == (3, 301)
    assert kpis("influencer|i-d|all|all")["tier"] == "macro"  # listed twice: the later
    assert kpis("influencer|i-e|all|all")["tier"] == "mid"  # the later entry has no tier
    assert "tier" not in kpis("influencer|i-ghost2|all|all")
    assert "tier" not in kpis("influencer|i-f|all|all")  # dropped by the newer definition
    late = [k for k in by_key if k.startswith("cmp-edge2|influencer|i-late|")]
    assert late == ["cmp-edge2|influencer|i-late|all|all"]  # a late snapshot: all only
    assert kpis("influencer|i-late|all|all")["impressions"] == 60
    assert not [k for k in by_key if "|i-stale|" in k or "|i-ghost|" in k]
    # Windows: negative deltas, a negative denominator, a refund in the next day.
    night = kpis("campaign|cmp-edge2|1h|1717462800")  # 2024-06-04T01:00Z
    assert (night["impressions"], night["likes"]) == (-10, -3)
    assert night["engagement_rate_by_impressions"] == -3 / -10
    day2 = kpis("campaign|cmp-edge2|1d|1717459200")
    assert (day2["refunds"], day2["revenue_net_minor"]) == (1, -700)
    assert "cmp-edge2|campaign|cmp-edge2|1m|1717436400" in by_key  # the zero-delta snapshot
    noon = kpis("campaign|cmp-edge2|1h|1717416000")  # final for interactions, then a post
    assert (noon["reach"], noon["posts"]) == (5, 5)
    # Attributes.
    plat = kpis("post|p2-plat|all|all")
    assert {k: plat[k] for k in ["influencer_id", "platform", "format", "published_at",
                                 "metrics_source", "reach", "impressions", "likes"]} == {
        "influencer_id": "i-a", "platform": "instagram", "format": "reel",
        "published_at": 1717417800, "metrics_source": "platform", "reach": 85,
        "impressions": 140, "likes": 6}
    events = kpis("post|p2-events|all|all")
    assert (events["platform"], events["metrics_source"], events["reach"]) == (
        "tiktok", "events", 6)
    unpublished = kpis("post|p2-unpub-plat|all|all")
    assert "influencer_id" not in unpublished
    assert unpublished["metrics_source"] == "platform"
    assert by_key["cmp-epoch|post|p-epoch|all|all"]["kpis"]["published_at"] == -1800
    assert by_key["cmp-epoch|post|p2-plat|all|all"]["kpis"]["metrics_source"] == "events"
    epoch = by_key["cmp-epoch|campaign|cmp-epoch|all|all"]["kpis"]
    assert epoch["brand_lift"] == {"awareness": {"exposed": 1, "exposed_positive": 0,
                                                 "control": 1, "control_positive": 0,
                                                 "lift": 0.0}}
    assert (epoch["refunds"], epoch["conversion_value_minor"]) == (1, 7)
    reasons = Counter(d.reason for d in res.dead_letters if '"cmp-edge2"' in d.value)
    assert reasons == {"schema_violation": 6, "source_mismatch": 4, "currency_mismatch": 4,
                       "refund_exceeds_order": 4}


# ---- the product against the oracle -----------------------------------------------------


def _product_problem() -> str | None:
    """Why the product's ``campaign-kpi replay`` cannot be run, or None when it can."""
    try:
        probe = subprocess.run([*PRODUCT, "replay", "--help"], capture_output=True,
                               timeout=60, check=False, cwd=ROOT)
    except OSError as error:
        return f"{PRODUCT} cannot be run ({error}; install the project: pip install -e '.[dev]')"
    if probe.returncode != 0:
        return (f"`campaign-kpi replay --help` exited {probe.returncode}: "
                f"{probe.stderr.decode(errors='replace')[-2000:]}")
    return None


def test_product_cli_is_available() -> None:
    # The only independent KPI reference: a missing product is a failure, never a skip.
    problem = _product_problem()
    assert problem is None, problem


def _replay(tmp: Path, lines: list[str], tag: str) -> tuple[bytes, bytes]:
    inp = tmp / "input.jsonl"
    if not inp.exists():
        inp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out, dlq = tmp / f"out-{tag}.json", tmp / f"dlq-{tag}.jsonl"
    proc = subprocess.run(
        [*PRODUCT, "replay", str(inp), "--out", str(out), "--dlq", str(dlq)],
        capture_output=True, timeout=900, check=False, cwd=ROOT,
    )
    assert proc.returncode == 0, (
        f"replay exited {proc.returncode}\nstderr: {proc.stderr.decode(errors='replace')[-3000:]}"
    )
    return out.read_bytes(), dlq.read_bytes()


@pytest.fixture(scope="module")
def replayed(case: tuple[Profile, Generated, Result],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, Path]:
    problem = _product_problem()
    if problem is not None:
        pytest.fail(f"the product's replay cannot be run: {problem}")
    profile, g, _ = case
    tmp = tmp_path_factory.mktemp(profile.name)
    out, dlq = _replay(tmp, g.lines, "1")
    return out, dlq, tmp


def test_replay_matches_naive(case: tuple[Profile, Generated, Result],
                              replayed: tuple[bytes, bytes, Path]) -> None:
    profile, _, expected = case
    out, _, _ = replayed
    actual = json.loads(out)
    assert isinstance(actual, list)
    diffs = compare_values(expected, actual, reach_rel_tol=0.04 if profile.big_reach else 0.0)
    assert not diffs, f"{profile.name}: " + report(diffs)


def test_reach_estimate_quality(case: tuple[Profile, Generated, Result],
                                replayed: tuple[bytes, bytes, Path]) -> None:
    """Above 100 viewers the estimate's relative error behaves like an RSE of at most 1 %."""
    profile, _, expected = case
    errors = reach_errors(expected, json.loads(replayed[0]))
    if not profile.big_reach:
        assert errors == []  # every reach below 100: compared exactly elsewhere
        return
    assert len(errors) >= 20
    rms = math.sqrt(sum(e * e for e in errors) / len(errors))
    assert rms <= 0.015, f"RMS relative reach error {rms:.4f} over {len(errors)} sets"
    assert max(abs(e) for e in errors) <= 0.04


def test_replay_dead_letters_match_naive(case: tuple[Profile, Generated, Result],
                                         replayed: tuple[bytes, bytes, Path]) -> None:
    profile, _, expected = case
    _, dlq, _ = replayed
    diffs = compare_dlq(expected, dlq.decode("utf-8").splitlines())
    assert not diffs, f"{profile.name}: " + report(diffs)


def test_reach_sum_is_the_sum_of_post_reach(case: tuple[Profile, Generated, Result],
                                            replayed: tuple[bytes, bytes, Path]) -> None:
    """reach_sum is the sum of the post-scope reach the product itself writes (2)."""
    profile, _, _ = case
    actual = json.loads(replayed[0])
    campaign: Counter[str] = Counter()
    influencer: Counter[tuple[str, str]] = Counter()
    for v in actual:
        if v["scope"] == "post":
            campaign[v["campaign_id"]] += v["kpis"].get("reach", 0)
            if "influencer_id" in v["kpis"]:  # the counted post_published names it
                influencer[v["campaign_id"], v["kpis"]["influencer_id"]] += v["kpis"].get(
                    "reach", 0)
    wrong = []
    for v in actual:
        if v["window"] != "all" or v["scope"] == "post":
            continue
        want = (campaign[v["campaign_id"]] if v["scope"] == "campaign"
                else influencer[v["campaign_id"], v["scope_id"]])
        if v["kpis"].get("reach_sum") != want:
            wrong.append(f"{v['campaign_id']}|{v['scope']}|{v['scope_id']}: reach_sum "
                         f"{v['kpis'].get('reach_sum')!r}, its posts' reach add up to {want}")
    assert not wrong, f"{profile.name}: " + report(wrong)


def test_replay_is_reproducible(case: tuple[Profile, Generated, Result],
                                replayed: tuple[bytes, bytes, Path]) -> None:
    """Twice the same bytes, ``updated_at`` included: the file's own clock (README, replay)."""
    profile, g, expected = case
    out1, dlq1, tmp = replayed
    out2, dlq2 = _replay(tmp, g.lines, "2")
    if out1 != out2:
        at = next((i for i in range(min(len(out1), len(out2))) if out1[i] != out2[i]),
                  min(len(out1), len(out2)))
        pytest.fail(f"{profile.name}: OUT differs between runs at byte {at}: "
                    f"{out1[at - 80:at + 80]!r} vs {out2[at - 80:at + 80]!r}")
    assert dlq1 == dlq2, f"{profile.name}: DLQ differs between runs"
    clock = _file_clock(g.lines, expected)
    stamps = Counter(v["updated_at"] for v in json.loads(out1))
    assert stamps == {clock: len(expected.values)}, f"{profile.name}: expected {clock}"


def _file_clock(lines: list[str], expected: Result) -> int:
    """Epoch ms: the greatest record timestamp, or event time of a record not rejected."""
    rejected = {d.line_no for d in expected.dead_letters}
    clock = 0
    for number, line in enumerate(lines, start=1):
        if number in expected.bad_lines:
            continue
        obj = json.loads(line)
        if isinstance(obj.get("topic"), str):
            if obj.get("timestamp") is not None:
                clock = max(clock, obj["timestamp"])
            if number not in rejected:
                clock = max(clock, parse_time(json.loads(obj["value"])["occurred_at"]) // 1000)
        elif number not in rejected:
            clock = max(clock, parse_time(obj["occurred_at"]) // 1000)
    return clock
