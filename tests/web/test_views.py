"""The pure parts of the web view: key and message parsing, alerts, objectives, page data."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import codec
from streams.domain.engine import KpiSet
from streams.domain.kpis import LEADERBOARD_KPIS
from streams.domain.objectives import (
    HEADLINE_KPIS,
    LEADERBOARD_BY_OBJECTIVE,
    leaderboard_kpi,
    pacing_moment,
    worst_status,
)
from streams.kpi_view import StoredKpis, parse_alert, parse_key, parse_update
from streams.web.state import CampaignState, ListState
from streams.web.views import (
    LIST_KPIS,
    NO_OBJECTIVE,
    campaign_page,
    list_page,
    report_files,
)

from .support import alert_record


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("kpi:{c1}:campaign:all", ("c1", "campaign", "c1", "all", None)),
        ("kpi:{c1}:campaign:1m:1780000020", ("c1", "campaign", "c1", "1m", 1780000020)),
        ("kpi:{c1}:influencer:inf:1:all", ("c1", "influencer", "inf:1", "all", None)),
        ("kpi:{c1}:influencer:a:b:1h:3600", ("c1", "influencer", "a:b", "1h", 3600)),
        ("kpi:{c1}:post:p-9:all", ("c1", "post", "p-9", "all", None)),
        ("kpi:{c1}:campaign:1d:-86400", ("c1", "campaign", "c1", "1d", -86400)),
    ],
)
def test_parse_key_reads_every_kpi_set_key_of_contract_5_1(
    key: str, expected: tuple[object, ...]
) -> None:
    parts = parse_key(key)
    assert parts is not None
    assert (parts.campaign_id, parts.scope, parts.scope_id, parts.window, parts.start) == expected


@pytest.mark.parametrize(
    "key",
    ["kpi:campaigns", "kpi:{c1}:leaderboard:reach", "kpi:{c1}:post:p:1m:60",
     "kpi:{c1}:campaign:1x:60", "kpi:{c1}:flush_seq", "other", "kpi:{}:campaign:all"],
)
def test_parse_key_refuses_other_keys(key: str) -> None:
    assert parse_key(key) is None


def test_the_alerts_key_is_recognised() -> None:
    parts = parse_key("kpi:{c1}:alerts")
    assert parts is not None
    assert parts.is_alerts


def test_parse_update_reads_the_sinks_message_and_refuses_others() -> None:
    update = parse_update(b'{"campaign_id": "c1", "keys": ["kpi:{c1}:campaign:all"]}')
    assert update is not None
    assert update.keys == ("kpi:{c1}:campaign:all",)
    assert parse_update(b"not json") is None
    assert parse_update(b'{"campaign_id": 3, "keys": []}') is None


def test_an_alert_of_the_documented_shape_is_read_and_others_are_refused() -> None:
    field, value = alert_record("c1")
    alert = parse_alert("c1", field, value)
    assert alert is not None
    assert (alert.rule, alert.scope, alert.scope_id, alert.severity, alert.is_open) == (
        "bot_clicks", "link", "lnk-a", "warning", True
    )
    assert alert.figures["clicks_bot"] == 41
    assert alert.field == field
    bad = codec.loads(value)
    bad["severity"] = "info"
    assert parse_alert("c1", field, codec.dumps(bad)) is None
    assert parse_alert("c1", field, b"[1]") is None


def test_leaderboard_kpis_are_redis_leaderboards_and_list_kpis_are_headline_kpis() -> None:
    for kpis in LEADERBOARD_BY_OBJECTIVE.values():
        assert set(kpis) <= set(LEADERBOARD_KPIS)
    for objective, kpis in LIST_KPIS.items():
        if objective != NO_OBJECTIVE:
            assert set(kpis) <= set(HEADLINE_KPIS[objective])
    assert leaderboard_kpi("conversion", {"orders", "clicks_valid"}) == "orders"
    assert leaderboard_kpi("awareness", set()) is None


def test_pacing_moment_and_worst_status() -> None:
    assert pacing_moment(None, 100.0) == 100.0
    assert pacing_moment(50.0, 100.0) == 50.0
    assert pacing_moment(150.0, 100.0) == 100.0
    assert worst_status(["ahead", "behind", None, "on track"]) == "behind"
    assert worst_status([None]) is None


def _stored(cid: str, kpis: dict[str, object]) -> StoredKpis:
    kpi_set = KpiSet(cid, "campaign", cid, "all", None, None, kpis)
    return StoredKpis(f"kpi:{{{cid}}}:campaign:all", kpi_set, 1_780_000_000_000)


def test_the_list_groups_by_objective_and_never_ranks() -> None:
    state = ListState(campaigns={
        "b-aw": _stored("b-aw", {"objective": "awareness", "reach": 10}),
        "a-aw": _stored("a-aw", {"objective": "awareness", "reach": 99_000}),
        "c-conv": _stored("c-conv", {"objective": "conversion", "orders": 3}),
        "d-none": _stored("d-none", {"impressions": 5}),
    })
    page = list_page(state, {}, {}, 1_780_000_000.0)
    groups = {g["objective"]: [r["campaign_id"] for r in g["rows"]] for g in page["groups"]}
    # By id within a group, whatever the figures: no ranking, and never across groups.
    assert groups == {"awareness": ["a-aw", "b-aw"], "engagement": [],
                      "conversion": ["c-conv"], "none": ["d-none"]}


def test_a_campaign_page_paces_targets_and_marks_costs() -> None:
    kpis: dict[str, object] = {
        "objective": "awareness", "reach": 500, "impressions": 4000, "cpm_minor": 1200.0,
        "target_progress": {"reach": 0.25, "cpm_minor": 1.5},
    }
    state = CampaignState("c1", campaign=_stored("c1", kpis))
    page = campaign_page(state, None, now_s=1.0, reports_dir="/nonexistent", top_posts=5,
                         spans={"1m": 600, "1h": 7200, "1d": 172800})
    entries = {e["kpi"]: e for e in page["headline"]["entries"]}
    assert entries["reach"]["progress_text"] == "25 %"
    assert entries["reach"]["status"] == "schedule unknown"  # no definition: no schedule
    assert entries["cpm_minor"]["lower_is_better"]
    assert not entries["frequency"]["present"]
    assert page["summary"]["notes"]


def test_report_files_only_match_the_exact_names_inside_the_directory(tmp_path: Path) -> None:
    (tmp_path / "report-c1.html").write_text("<p>r</p>")
    (tmp_path / "report-c1.pdf").write_bytes(b"%PDF")
    outside = tmp_path.parent / "report-x.html"
    assert set(report_files(str(tmp_path), "c1")) == {"html", "pdf"}
    assert report_files(str(tmp_path), "../x") == {}
    assert report_files(str(tmp_path), "c2") == {}
    assert not outside.exists()
