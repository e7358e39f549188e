"""The worker's /metrics: clean for promtool, counting like the replay, capped per campaign."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from streams.config import Settings
from streams.metrics import STATE_KINDS

from .worker_harness import Harness, define_campaigns, generated_records, replay_expected


def promtool_check(text: str) -> subprocess.CompletedProcess[bytes]:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is needed (Debian package prometheus)"
    return subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )


async def test_metrics_pass_promtool_and_count_like_the_replay(harness: Harness) -> None:
    records = generated_records(21, 3000)
    worker = harness.start_worker(KPI_METRICS_CAMPAIGNS="2", KPI_STATE_MAX_CAMPAIGNS="3")
    produced, events = await define_campaigns(harness, records)
    await harness.produce(events, produced)
    await harness.wait_processed()

    text = worker.scrape()
    check = promtool_check(text)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert check.stdout == b"", f"promtool warnings: {check.stdout.decode()}"

    samples = [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
    invalid = Counter[str]()
    for sample in samples:
        if sample.name == "campaign_kpi_invalid_events_total":
            invalid[sample.labels["reason"]] += int(sample.value)
    expected, reasons = replay_expected(records)
    assert +invalid == reasons
    collections = {
        s.labels["generation"]: s.value
        for s in samples
        if s.name == "campaign_kpi_gc_pause_seconds_count"
    }
    assert set(collections) == {"0", "1", "2"}
    assert collections["0"] > 0
    campaigns = {s.labels["campaign_id"] for s in samples if s.name == "campaign_kpi_value"}
    assert len(campaigns) == 2, "at most KPI_METRICS_CAMPAIGNS campaigns carry KPI series"

    # The object KPIs of those campaigns, as their own families, equal the replay's.
    shown_families = {s.name for s in samples if s.labels.get("campaign_id") in campaigns}
    assert {"campaign_kpi_conversions_by_action", "campaign_kpi_brand_lift_z",
            "campaign_kpi_brand_lift_respondents"} <= shown_families
    for campaign in campaigns:
        kpis = expected[f"{campaign}|campaign|{campaign}|all|all"]["kpis"]
        by_action = {
            s.labels["action"]: s.value for s in samples
            if s.name == "campaign_kpi_conversions_by_action"
            and s.labels["campaign_id"] == campaign
        }
        assert by_action == {a: float(n) for a, n in kpis["conversions_by_action"].items()}
        lift = kpis.get("brand_lift", {})
        for measure in ("lift", "relative_lift", "z"):
            shown = {
                s.labels["question"]: s.value for s in samples
                if s.name == f"campaign_kpi_brand_lift_{measure}"
                and s.labels["campaign_id"] == campaign
            }
            assert shown == {q: e[measure] for q, e in lift.items() if measure in e}, measure
        respondents = {
            (s.labels["question"], s.labels["group"], s.labels["answer"]): s.value
            for s in samples
            if s.name == "campaign_kpi_brand_lift_respondents"
            and s.labels["campaign_id"] == campaign
        }
        assert respondents == {
            (q, group, answer): float(e[group if answer == "any" else f"{group}_positive"])
            for q, e in lift.items() for group in ("exposed", "control")
            for answer in ("any", "positive")
        }

    # The state held, per partition: every campaign once; the live sets are the `all` sets
    # and the open windows (the others are packed into blocks).
    held: dict[str, dict[str, float]] = {}
    for sample in samples:
        if sample.name.endswith("_held"):
            held.setdefault(sample.name, {})[sample.labels["partition"]] = sample.value
    assert set(held) == {f"campaign_kpi_{kind}_held" for kind in STATE_KINDS}
    assert all(set(by_partition) == {"0", "1", "2", "3"} for by_partition in held.values())
    total = {name.removeprefix("campaign_kpi_").removesuffix("_held"): sum(by.values())
             for name, by in held.items()}
    assert total["campaigns"] == len({value["campaign_id"] for value in expected.values()})
    all_sets = sum(1 for value in expected.values() if value["window"] == "all")
    assert total["kpi_sets"] - total["open_windows"] == all_sets
    assert 0 < total["open_windows"] < len(expected) - all_sets
    assert total["window_blocks"] > 0
    ceilings = {s.labels["state"]: s.value for s in samples
                if s.name == "campaign_kpi_state_ceiling"}
    assert ceilings == {**Settings().state_ceilings, "campaigns": 3}
