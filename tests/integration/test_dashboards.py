"""Every panel query of the Grafana dashboards returns data from the real Prometheus.

One real `campaign-kpi worker` runs on port 16066, the address the Prometheus of
`make services` scrapes (job ``campaign-kpi-worker``, deploy/prometheus/prometheus.yml), and
processes the oracle generator's input. Once Prometheus has scraped its series, every query
of both dashboards runs against the Prometheus HTTP API with the template variables
substituted, for a campaign of each objective, and must return at least one number.

Nothing else may listen on 16066 meanwhile (no other test uses it; a worker started by hand
without KPI_WEB_PORT would): the test fails when the port is taken.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from .worker_harness import Harness, define_campaigns, generated_records

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
SCRAPED_PORT = 16066
JOB = "campaign-kpi-worker"
# One campaign of each objective in the generator's input (tests/oracle/generate.py).
CAMPAIGNS = {
    "awareness": "cmp-sunscreen-aw",
    "engagement": "cmp-mode-eng",
    "conversion": "cmp-shop-conv",
}
# What Grafana puts in place of its built-in variables (scrape interval 5 s).
BUILTINS = {
    "$__rate_interval": "1m",
    "$__interval": "5s",
    "$__range": "10m",
}
STEP_S = 5
RULE_GROUPS = {"campaign-kpi-recording", "campaign-kpi-alerts"}
RELOAD_HINT = (
    "the Prometheus of `make services` loads deploy/prometheus/rules/*.rules.yml through "
    "rule_files; one started before they existed needs `curl -X POST $PROMETHEUS_URL/-/reload` "
    "(or `make services-down services`)"
)
SCRAPE_TIMEOUT_S = 90.0
HTTP_TIMEOUT_S = 10.0


def _get(base_url: str, path: str, params: dict[str, str]) -> Any:
    url = f"{base_url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


async def prom_get(base_url: str, path: str, **params: str) -> Any:
    """GET a Prometheus API path (in a thread: urllib blocks)."""
    return await asyncio.to_thread(_get, base_url, path, params)


def substitute(expr: str, objective: str, campaign: str) -> str:
    """The query as Grafana sends it for these variable values."""
    values = {**BUILTINS, "$objective": objective, "$campaign": campaign}
    for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    leftover = re.findall(r"\$\{?\w+", expr)
    assert not leftover, f"unknown variables {leftover} in {expr}"
    return expr


def panel_queries() -> list[tuple[str, str, dict[str, Any]]]:
    """(dashboard title, panel title, target) of every query of every dashboard."""
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        stack = list(dashboard["panels"])
        while stack:
            panel = stack.pop(0)
            stack.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                found.append((dashboard["title"], panel["title"], target))
    return found


def has_number(result_type: str, result: list[dict[str, Any]]) -> bool:
    """True when the result holds at least one sample that is not NaN."""
    if result_type == "matrix":
        values = [v for series in result for _, v in series["values"]]
    else:
        values = [series["value"][1] for series in result]
    return any(not math.isnan(float(v)) for v in values)


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def wait_for(
    prometheus_url: str, query: str, what: str, timeout_s: float = SCRAPE_TIMEOUT_S
) -> list[dict[str, Any]]:
    """Poll an instant query until it returns a series."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        data = await prom_get(prometheus_url, "/api/v1/query", query=query)
        if data["result"]:
            return list(data["result"])
        if loop.time() > deadline:
            raise AssertionError(f"Prometheus did not see {what} within {timeout_s}s ({query})")
        await asyncio.sleep(1.0)


async def test_every_panel_query_returns_data(harness: Harness, prometheus_url: str) -> None:
    assert panel_queries(), f"no dashboard queries found in {DASHBOARDS_DIR}"
    if port_taken(SCRAPED_PORT):
        pytest.fail(
            f"127.0.0.1:{SCRAPED_PORT} is taken (another worker?): this test needs the port "
            "that Prometheus scrapes for itself",
            pytrace=False,
        )
    started_s = time.time()
    worker = harness.start_worker(KPI_WEB_PORT=str(SCRAPED_PORT))
    records = generated_records(31, 4000)
    produced, events = await define_campaigns(harness, records)
    # Paced, so that several scrapes see the counters grow (rates over 1m are not 0).
    await harness.produce(events, produced, pace_s=0.2)
    await harness.wait_processed()

    await wait_for(prometheus_url, f'up{{job="{JOB}"}} == 1', "the worker's target up")
    for objective, campaign in CAMPAIGNS.items():
        fresh = await wait_for(
            prometheus_url,
            f'campaign_kpi_campaign_updated_timestamp_seconds{{job="{JOB}",'
            f'campaign_id="{campaign}",objective="{objective}"}} >= {started_s:.0f}',
            f"campaign {campaign} of this run",
        )
        assert fresh[0]["metric"]["instance"] == f"127.0.0.1:{SCRAPED_PORT}"
    # Two more scrapes after the last flush, so that every rate has samples to work on.
    await asyncio.sleep(2 * STEP_S + 1)
    assert worker.process is not None
    assert worker.process.poll() is None, worker.log_tail()

    # The template variables' own queries offer these values.
    objectives = await prom_get(
        prometheus_url, "/api/v1/label/objective/values", **{"match[]": "campaign_kpi_value"}
    )
    assert set(CAMPAIGNS) <= set(objectives)
    for objective, campaign in CAMPAIGNS.items():
        offered = await prom_get(
            prometheus_url,
            "/api/v1/label/campaign_id/values",
            **{"match[]": f'campaign_kpi_value{{objective="{objective}"}}'},
        )
        assert campaign in offered

    end_s = time.time()
    start_s = max(started_s, end_s - 600)
    empty = []
    checked = 0
    for objective, campaign in CAMPAIGNS.items():
        for dashboard, panel, target in panel_queries():
            query = substitute(target["expr"], objective, campaign)
            if target.get("instant"):
                data = await prom_get(prometheus_url, "/api/v1/query", query=query)
            else:
                data = await prom_get(
                    prometheus_url,
                    "/api/v1/query_range",
                    query=query,
                    start=f"{start_s:.3f}",
                    end=f"{end_s:.3f}",
                    step=str(STEP_S),
                )
            checked += 1
            if not has_number(data["resultType"], data["result"]):
                empty.append(f"{dashboard} / {panel} [{objective} {campaign}]: {query}")
    assert checked >= 3 * 40
    assert not empty, "queries without data:\n" + "\n".join(empty)

    await assert_rules_healthy(prometheus_url, after_s=end_s)


async def assert_rules_healthy(prometheus_url: str, after_s: float) -> None:
    """The alert and recording rules are loaded and evaluate without error on this data."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 45.0  # the recording group runs every 30 s
    while True:
        groups = {
            g["name"]: g for g in (await prom_get(prometheus_url, "/api/v1/rules"))["groups"]
        }
        missing = RULE_GROUPS - set(groups)
        assert not missing, f"rule groups {sorted(missing)} not loaded: {RELOAD_HINT}"
        rules = [rule for name in RULE_GROUPS for rule in groups[name]["rules"]]
        evaluated = [
            rule
            for rule in rules
            if _epoch(rule["lastEvaluation"]) > after_s
        ]
        if len(evaluated) == len(rules):
            break
        assert loop.time() < deadline, "the rules were not evaluated again within 45 s"
        await asyncio.sleep(1.0)
    broken = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"]
    assert not broken, "rules failing on real data:\n" + "\n".join(broken)


def _epoch(rfc3339: str) -> float:
    """Seconds since the epoch of a Prometheus timestamp (nanosecond fractions included)."""
    match = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", rfc3339)
    assert match, rfc3339
    zone = "+00:00" if match[3] == "Z" else match[3]
    whole = datetime.fromisoformat(match[1] + zone).timestamp()
    return whole + float("0." + (match[2] or "0"))
