"""Alert and recording rules: promtool accepts them, their unit tests pass, configs load them.

promtool comes with Debian's prometheus package (`make services` installs it; CI installs
it too). A missing promtool FAILS these tests: a green run must mean the rules were checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.config import Settings
from streams.domain.kpis import COST_KPIS, KPI_NAMES
from streams.domain.objectives import LEVEL_KPIS
from streams.metrics import STATE_KINDS

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULES_FILE = RULES_DIR / "campaign-kpi.rules.yml"
RULES_TEST_FILE = RULES_DIR / "campaign-kpi.rules.test.yml"
CONFIGS = {
    "local": PROMETHEUS_DIR / "prometheus.yml",
    "docker": PROMETHEUS_DIR / "prometheus.docker.yml",
}
EXPECTED_ALERTS = {
    "CampaignKpiWorkerDown",
    "CampaignKpiStaleCampaignData",
    "CampaignKpiDeadLetterShareHigh",
    "CampaignKpiDeadLetterRateHigh",
    "CampaignKpiConsumerLagHigh",
    "CampaignKpiEventLagP95High",
    "CampaignKpiEventLagP99High",
    "CampaignKpiBehindTargetPace",
    "CampaignKpiCostAboveTargetPace",
    "CampaignKpiRateBelowTarget",
    "CampaignKpiStateAboveCeiling",
}
SEVERITIES = {"critical", "warning", "info"}
CAMPAIGN_ALERTS = {
    "CampaignKpiStaleCampaignData",
    "CampaignKpiBehindTargetPace",
    "CampaignKpiCostAboveTargetPace",
    "CampaignKpiRateBelowTarget",
}
# Which target KPIs each pacing alert reads: the domain's own split (streams.domain.objectives).
PACING_SELECTS = {
    "CampaignKpiBehindTargetPace": KPI_NAMES - COST_KPIS - LEVEL_KPIS,
    "CampaignKpiCostAboveTargetPace": COST_KPIS,
    "CampaignKpiRateBelowTarget": LEVEL_KPIS,
}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool not found: run `make services` (installs Debian's prometheus package) "
            "or install prometheus",
            pytrace=False,
        )
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _alerts() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for group in _load(RULES_FILE)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_promtool_check_rules() -> None:
    result = _run("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rule_unit_tests() -> None:
    result = _run("test", "rules", str(RULES_TEST_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_present() -> None:
    assert set(_alerts()) == EXPECTED_ALERTS


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_alert_has_for_severity_and_annotations(name: str) -> None:
    rule = _alerts()[name]
    assert rule.get("for"), f"{name} has no `for:`"
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary")
    assert annotations.get("description")
    if name in CAMPAIGN_ALERTS:
        for text in (annotations["summary"], annotations["description"]):
            assert "$labels.campaign_id" in text, f"{name}: the campaign is not named"
            assert "$labels.objective" in text, f"{name}: the objective is not named"


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_every_alert_is_unit_tested_firing_and_not_firing(name: str) -> None:
    cases = [
        case
        for test in _load(RULES_TEST_FILE)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == name
    ]
    assert any(case.get("exp_alerts") for case in cases), f"{name}: no firing case"
    assert any(not case.get("exp_alerts") for case in cases), f"{name}: no silent case"


def test_campaign_rules_join_on_campaign_and_objective() -> None:
    """Campaign series are matched on (campaign_id, objective), never across objectives."""
    for name in CAMPAIGN_ALERTS:
        expr = _alerts()[name]["expr"]
        assert " on (campaign_id, objective)" in expr, name
        assert "ignoring" not in expr, name


@pytest.mark.parametrize("flavour", sorted(CONFIGS))
def test_configs_load_the_rules(flavour: str) -> None:
    config_path = CONFIGS[flavour]
    patterns = _load(config_path).get("rule_files")
    assert patterns, f"{config_path.name} has no rule_files"
    matched = {p.resolve() for pattern in patterns for p in config_path.parent.glob(pattern)}
    assert RULES_FILE.resolve() in matched
    assert RULES_TEST_FILE.resolve() not in matched, "the unit tests are not a rule file"
    result = _run("check", "config", str(config_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_compose_mounts_the_rules_next_to_the_config() -> None:
    compose = _load(REPO_ROOT / "docker-compose.yml")
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/prometheus.docker.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in volumes


def _selects(expr: str) -> set[str]:
    """The KPI names the `kpi` matchers of an expression let through (regexes are anchored)."""
    matchers = re.findall(r'kpi(=~|!~)"([^"]+)"', expr)
    assert matchers, expr
    return {
        name for name in KPI_NAMES
        if all(bool(re.fullmatch(rx, name)) == (op == "=~") for op, rx in matchers)
    }


@pytest.mark.parametrize("name", sorted(PACING_SELECTS))
def test_pacing_alerts_read_the_domains_kpi_split(name: str) -> None:
    """The rules judge each target KPI the way the report, the alerts and the web view do."""
    assert _selects(_alerts()[name]["expr"]) == PACING_SELECTS[name]


def test_the_state_rule_covers_every_kind_of_state_the_worker_reports() -> None:
    """Each *_held gauge is compared with its own ceiling, which the settings all give."""
    expr = _alerts()["CampaignKpiStateAboveCeiling"]["expr"]
    for kind in STATE_KINDS:
        assert f"(campaign_kpi_{kind}_held)" in expr, kind
        assert f'"state", "{kind}"' in expr, kind
    assert set(Settings().state_ceilings) == set(STATE_KINDS)
