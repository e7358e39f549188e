"""Grafana provisioning and dashboards: structure checks, no Grafana needed.

The dashboards reference the provisioned Prometheus datasource by its fixed uid, and no
panel ranks or lists campaigns of different objectives together (contract section 2:
rankings are only made among campaigns of the same objective).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
DATASOURCES_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DATASOURCE_UID = "campaign-kpi-prometheus"
DASHBOARD_TITLES = {"Campaign overview", "Pipeline health"}
OBJECTIVES = {"awareness", "engagement", "conversion"}
# Series that carry one campaign each (labels campaign_id and objective).
CAMPAIGN_METRIC = re.compile(
    r"\b(campaign_kpi_(?:value|target_progress_ratio|campaign_[a-z]+_timestamp_seconds))\b"
    r"(\s*\{[^}]*\})?"
)
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
RANKING_FUNCTIONS = re.compile(r"\b(sort|sort_desc|topk|bottomk)\s*\(")


def _yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path} is not a YAML mapping"
    return loaded


def _dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def _load_dashboard(path: Path) -> dict[str, Any]:
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested (collapsed) panels included."""
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels", []))


def _targets(panel: dict[str, Any]) -> list[dict[str, Any]]:
    return list(panel.get("targets", []))


def _matchers(selector: str) -> dict[str, tuple[str, str]]:
    return {name: (op, value) for name, op, value in MATCHER.findall(selector)}


def cross_objective_selectors(expr: str) -> list[str]:
    """Campaign-series selectors of ``expr`` that may mix objectives.

    A selector is fine when it pins one campaign (``campaign_id="$campaign"``) or one
    objective (``objective="$objective"`` or a literal objective, by equality).
    """
    found = []
    for match in CAMPAIGN_METRIC.finditer(expr):
        matchers = _matchers(match.group(2) or "")
        if matchers.get("campaign_id") == ("=", "$campaign"):
            continue
        op, value = matchers.get("objective", ("", ""))
        if op == "=" and (value == "$objective" or value in OBJECTIVES):
            continue
        found.append(match.group(0))
    return found


def is_ranking(panel: dict[str, Any]) -> bool:
    """A panel that orders or lists several campaigns side by side."""
    exprs = [t.get("expr", "") for t in _targets(panel)]
    if any(RANKING_FUNCTIONS.search(e) for e in exprs):
        return True
    lists_campaigns = any(
        "{{campaign_id}}" in t.get("legendFormat", "") or "by (campaign_id" in t.get("expr", "")
        for t in _targets(panel)
    )
    return lists_campaigns and panel.get("type") in {"table", "bargauge", "barchart", "piechart"}


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    files = _dashboard_files()
    assert files, f"no dashboards in {DASHBOARDS_DIR}"
    return {path.name: _load_dashboard(path) for path in files}


@pytest.fixture(scope="module")
def overview(dashboards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (found,) = [d for d in dashboards.values() if d["title"] == "Campaign overview"]
    return found


@pytest.fixture(scope="module")
def pipeline(dashboards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (found,) = [d for d in dashboards.values() if d["title"] == "Pipeline health"]
    return found


# ------------------------------------------------------------------ provisioning


def test_datasource_provisioning() -> None:
    config = _yaml(DATASOURCES_FILE)
    assert config["apiVersion"] == 1
    (datasource,) = config["datasources"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "prometheus"
    assert datasource["access"] == "proxy"
    assert datasource["url"] == "http://prometheus:9090"


def test_datasource_url_matches_the_compose_prometheus() -> None:
    compose = _yaml(REPO_ROOT / "docker-compose.yml")
    ports = compose["services"]["prometheus"]["ports"]
    assert any(str(p).endswith(":9090") for p in ports), "prometheus listens on 9090"
    assert "prometheus" in compose["services"]["grafana"]["depends_on"]


def test_dashboard_provider() -> None:
    config = _yaml(PROVIDERS_FILE)
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_mounts_provisioning_and_dashboards() -> None:
    compose = _yaml(REPO_ROOT / "docker-compose.yml")
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    for volume in volumes:
        source = volume.split(":", 1)[0]
        if source.startswith("./"):
            assert (REPO_ROOT / source).is_dir(), f"{source} does not exist"


# ------------------------------------------------------------------ dashboards


def test_the_two_dashboards(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {d["title"] for d in dashboards.values()} == DASHBOARD_TITLES
    uids = [d.get("uid") for d in dashboards.values()]
    assert all(uids)
    assert len(set(uids)) == len(uids)
    for name, dashboard in dashboards.items():
        assert 36 <= dashboard["schemaVersion"] <= 41, name
        assert dashboard.get("id") is None, f"{name}: provisioned dashboards carry no id"
        assert len(dashboard["uid"]) <= 40, f"{name}: uid longer than Grafana allows"


@pytest.mark.parametrize("path", _dashboard_files(), ids=lambda p: p.name)
def test_panel_ids_unique_and_grid_valid(path: Path) -> None:
    panels = list(_all_panels(_load_dashboard(path)["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["w"] > 0
        assert grid["h"] > 0
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel.get("title"), f"panel {panel['id']} has no title"


@pytest.mark.parametrize("path", _dashboard_files(), ids=lambda p: p.name)
def test_everything_uses_the_provisioned_datasource(path: Path) -> None:
    dashboard = _load_dashboard(path)
    assert "${DS_" not in path.read_text(encoding="utf-8"), "export placeholders left"
    for panel in _all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
        targets = _targets(panel)
        assert targets, f"{panel['title']}: no query"
        ref_ids = [t["refId"] for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), f"{panel['title']}: duplicate refIds"
        for target in targets:
            assert target["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            assert target.get("expr", "").strip(), f"{panel['title']}: empty query"
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_overview_variables(overview: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in overview["templating"]["list"]}
    assert set(variables) >= {"campaign", "objective"}
    campaign = variables["campaign"]
    assert re.fullmatch(
        r"label_values\(campaign_kpi_value(\{[^}]*\})?,\s*campaign_id\)", campaign["query"]
    )
    assert re.fullmatch(
        r"label_values\(campaign_kpi_value(\{[^}]*\})?,\s*objective\)",
        variables["objective"]["query"],
    )
    # One objective at a time: "All" or a multi-selection would mix objectives.
    assert variables["objective"]["multi"] is False
    assert variables["objective"]["includeAll"] is False


def _rows(dashboard: dict[str, Any]) -> dict[str, str]:
    """Row title -> every query of the panels under it."""
    rows: dict[str, list[str]] = {}
    current = ""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
            rows.setdefault(current, [])
            rows[current].extend(t.get("expr", "") for p in panel["panels"] for t in _targets(p))
        else:
            rows.setdefault(current, []).extend(t.get("expr", "") for t in _targets(panel))
    return {title: "\n".join(exprs) for title, exprs in rows.items()}


@pytest.mark.parametrize(
    ("row", "kpis"),
    [
        ("Awareness", ["reach", "impressions", "frequency", "cpm_minor"]),
        ("Engagement", ["engagements", "engagement_rate_by_reach", "cpe_minor"]),
        (
            "Conversion",
            ["clicks_valid", "ctr", "orders", "revenue_minor", "cpa_minor", "roas"],
        ),
        (
            "Net revenue",
            ["campaign_kpi_conversions_by_action", "revenue_net_minor", "refunded_minor",
             "roas_net", "conversions", "cost_per_conversion_minor"],
        ),
        (
            "Brand lift",
            ["campaign_kpi_brand_lift_lift", "campaign_kpi_brand_lift_z",
             "campaign_kpi_brand_lift_respondents"],
        ),
        ("Target progress", ["campaign_kpi_target_progress_ratio"]),
    ],
)
def test_overview_groups_panels_by_objective(
    overview: dict[str, Any], row: str, kpis: list[str]
) -> None:
    rows = _rows(overview)
    (title,) = [t for t in rows if t.startswith(row)]
    for kpi in kpis:
        assert re.search(rf"\b{kpi}\b", rows[title]), f"row {title!r} does not show {kpi}"


def test_pipeline_health_covers_the_worker_metrics(pipeline: dict[str, Any]) -> None:
    exprs = "\n".join(
        t.get("expr", "") for p in _all_panels(pipeline["panels"]) for t in _targets(p)
    )
    for needed in [
        "campaign_kpi_events_total",
        "by (topic, outcome)",
        "campaign_kpi_invalid_events_total",
        "by (topic, reason)",
        "histogram_quantile(0.50, sum by (le) (rate(campaign_kpi_event_lag_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(campaign_kpi_event_lag_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(campaign_kpi_event_lag_seconds_bucket",
        "campaign_kpi_consumer_lag_records",
        "campaign_kpi_sink_write_duration_seconds_bucket",
        "campaign_kpi_sink_errors_total",
        "campaign_kpi_flushes_total",
        "campaign_kpi_partitions_owned",
        'up{job="campaign-kpi-worker"}',
    ]:
        assert needed in exprs, f"Pipeline health has no query with {needed!r}"


# ------------------------------------------------------------------ one objective at a time


def test_ranking_panels_filter_on_one_objective(dashboards: dict[str, dict[str, Any]]) -> None:
    rankings = 0
    for name, dashboard in dashboards.items():
        for panel in _all_panels(dashboard["panels"]):
            if not is_ranking(panel):
                continue
            rankings += 1
            for target in _targets(panel):
                expr = target["expr"]
                assert "campaign_kpi_" in expr
                assert not cross_objective_selectors(expr), (
                    f"{name}: ranking panel {panel['title']!r} mixes objectives: {expr}"
                )
                assert CAMPAIGN_METRIC.search(expr), expr
    assert rankings >= 6, "the overview ranks campaigns per objective (2 per objective)"


def test_no_panel_mixes_objectives(dashboards: dict[str, dict[str, Any]]) -> None:
    """Every campaign selector pins one campaign or one objective, ranking or not."""
    for name, dashboard in dashboards.items():
        for panel in _all_panels(dashboard["panels"]):
            for target in _targets(panel):
                assert not cross_objective_selectors(target["expr"]), (
                    f"{name}: {panel['title']!r}: {target['expr']}"
                )


@pytest.mark.parametrize(
    ("expr", "mixes"),
    [
        ('sort_desc(campaign_kpi_value{kpi="reach"})', True),
        ('topk(5, campaign_kpi_value{objective=~".+",kpi="roas"})', True),
        ('sort(campaign_kpi_value{objective!="awareness",kpi="cpm_minor"})', True),
        ("max by (campaign_id) (campaign_kpi_target_progress_ratio)", True),
        ('sort_desc(campaign_kpi_value{objective="$objective",kpi="reach"})', False),
        ('sort(campaign_kpi_value{kpi="cpa_minor", objective="conversion"})', False),
        ('campaign_kpi_value{campaign_id="$campaign",objective="$objective"}', False),
        ('campaign_kpi_campaign_end_timestamp_seconds{campaign_id="$campaign"}', False),
        ("sum(rate(campaign_kpi_events_total[1m]))", False),
    ],
)
def test_the_objective_check_itself(expr: str, mixes: bool) -> None:
    assert bool(cross_objective_selectors(expr)) is mixes


def test_ranking_detection_itself() -> None:
    ranking = {
        "type": "bargauge",
        "targets": [{"expr": 'campaign_kpi_value{kpi="reach"}', "legendFormat": "{{campaign_id}}"}],
    }
    single = {
        "type": "stat",
        "targets": [{"expr": 'campaign_kpi_value{campaign_id="$campaign"}', "legendFormat": "x"}],
    }
    assert is_ranking(ranking)
    assert not is_ranking(single)
