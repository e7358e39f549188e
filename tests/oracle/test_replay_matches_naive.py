"""The product's batch replay agrees with the naive oracle, value by value.

The oracle (``naive.py``) and the input generator (``generate.py``) are written from the
contract only; the product is called through its command line and nothing else.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .compare import compare_dlq, compare_values, reach_errors, report
from .generate import Generated, generate
from .naive import Result, run

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "campaign-kpi"


@dataclass(frozen=True)
class Profile:
    name: str
    seed: int
    size: int
    big_reach: bool = False


PROFILES = [
    Profile("default-s1", 1, 10_000),
    Profile("default-s7", 7, 4_000),
    Profile("big-reach", 3, 30_000, big_reach=True),
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


@pytest.fixture(scope="module", params=PROFILES, ids=lambda p: p.name)
def case(request: pytest.FixtureRequest) -> tuple[Profile, Generated, Result]:
    profile: Profile = request.param
    g = generate(profile.seed, profile.size, big_reach=profile.big_reach)
    return profile, g, run(g.lines, g.schema_invalid)


# ---- the generator and the oracle on their own -----------------------------------------


def test_generator_is_deterministic() -> None:
    assert generate(5, 2000).lines == generate(5, 2000).lines
    assert generate(5, 2000).lines != generate(6, 2000).lines


def test_profile_contains_every_feature(case: tuple[Profile, Generated, Result]) -> None:
    profile, g, _ = case
    missing = [f for f in REQUIRED_FEATURES if g.features[f] == 0]
    assert not missing, f"{profile.name}: features not planted: {missing}"
    assert 0.5 * profile.size <= len(g.lines) <= 1.5 * profile.size


def test_oracle_sees_the_planted_cases(case: tuple[Profile, Generated, Result]) -> None:
    profile, _, res = case
    reasons = Counter(d.reason for d in res.dead_letters)
    for reason in ["too_large", "malformed_json", "schema_violation", "type_mismatch",
                   "key_mismatch", "future_timestamp", "currency_mismatch"]:
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
    assert len(campaigns) == 5
    total = Counter[str]()
    for kpis in campaigns.values():
        total.update({k: v for k, v in kpis.items() if isinstance(v, int)})
    for counter in ["duplicate_events", "late_events", "clicks_bot", "clicks_repeat",
                    "orders_code", "orders_link", "orders_unattributed",
                    "orders_out_of_window", "reviews"]:
        assert total[counter] > 0, counter
    for topic in ["interactions", "clicks", "orders"]:
        assert res.late_by_topic.get(topic, 0) > 0, topic
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


# ---- the product against the oracle -----------------------------------------------------


def _product_available() -> bool:
    if not (ROOT / "streams" / "cli.py").exists() or not SCRIPT.exists():
        return False
    probe = subprocess.run([str(SCRIPT), "replay", "--help"], capture_output=True,
                           timeout=60, check=False)
    return probe.returncode == 0


_UPDATED_AT = re.compile(rb'"updated_at"\s*:\s*-?\d+(\.\d+)?')


def _replay(tmp: Path, lines: list[str], tag: str) -> tuple[bytes, bytes]:
    inp = tmp / "input.jsonl"
    if not inp.exists():
        inp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out, dlq = tmp / f"out-{tag}.json", tmp / f"dlq-{tag}.jsonl"
    proc = subprocess.run(
        [str(SCRIPT), "replay", str(inp), "--out", str(out), "--dlq", str(dlq)],
        capture_output=True, timeout=900, check=False, cwd=tmp,
    )
    assert proc.returncode == 0, (
        f"replay exited {proc.returncode}\nstderr: {proc.stderr.decode(errors='replace')[-3000:]}"
    )
    return out.read_bytes(), dlq.read_bytes()


@pytest.fixture(scope="module")
def replayed(case: tuple[Profile, Generated, Result],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, Path]:
    if not _product_available():
        pytest.skip("the product's `campaign-kpi replay` is not available yet")
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


def test_replay_is_reproducible(case: tuple[Profile, Generated, Result],
                                replayed: tuple[bytes, bytes, Path]) -> None:
    profile, g, _ = case
    out1, dlq1, tmp = replayed
    out2, dlq2 = _replay(tmp, g.lines, "2")
    a, b = _UPDATED_AT.sub(b'"updated_at":0', out1), _UPDATED_AT.sub(b'"updated_at":0', out2)
    if a != b:
        at = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
        pytest.fail(f"{profile.name}: OUT differs between runs at byte {at}: "
                    f"{a[at - 80:at + 80]!r} vs {b[at - 80:at + 80]!r}")
    assert dlq1 == dlq2, f"{profile.name}: DLQ differs between runs"
