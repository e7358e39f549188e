"""The report against a real Redis holding real KPI sets (simulate -> replay -> Redis sink).

Every value the report shows is checked against the KPI set it comes from: the report's data
(what ``--json`` writes) and the HTML's ``data-value`` attributes (exact numbers).
"""

from __future__ import annotations

import asyncio
import html as html_lib
import io
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from streams import codec
from streams.config import Settings
from streams.domain.engine import KpiSet
from streams.domain.objectives import headline_kpis
from streams.domain.vocabulary import CRITERIA
from streams.report.command import ReportRequest, main, make_report
from streams.report.render import to_json
from streams.report.sources import ReportSettings, alerts_key

from ..integration.support import KafkaAdmin, produce
from .support import Simulated, renamed, write_sets

CAMPAIGNS = {
    "awareness": "sim-01-awareness",
    "engagement": "sim-02-engagement",
    "conversion": "sim-03-conversion",
}
REPORT = ReportSettings(kafka_timeout_s=10.0, history="redis")
NOW_S = 1_750_000_000.0  # after the simulated campaigns


def _report(
    settings: Settings, campaign_id: str, *, report: ReportSettings = REPORT, **request: Any
) -> tuple[dict[str, Any], str]:
    return asyncio.run(
        make_report(ReportRequest(campaign_id=campaign_id, **request), settings, report,
                    now_s=NOW_S)
    )


def _load(settings: Settings, kpi_sets: list[KpiSet]) -> None:
    asyncio.run(write_sets(settings, kpi_sets))


def _definition_file(tmp_path: Path, sim: Simulated, campaign_id: str) -> str:
    path = tmp_path / f"{campaign_id}.jsonl"
    path.write_bytes(sim.definition_lines(campaign_id))
    return str(path)


def _value(text: str) -> object:
    """A cell's data-value: a number, or the JSON of an object KPI."""
    return json.loads(html_lib.unescape(text))


def _row(html: str, marker: str) -> str:
    start = html.index(f"<tr {marker}")
    return html[start : html.index("</tr>", start)]


def _cell(row: str, kpi: str) -> object:
    match = re.search(rf'data-kpi="{re.escape(kpi)}"[^>]*?data-value="([^"]*)"', row)
    return None if match is None else _value(match.group(1))


SECTIONS = (
    "brief", "headline", "context", "series", "influencers", "content-quality", "brand-lift",
    "data-quality", "recommendations", "comparison",
)


@pytest.mark.parametrize("objective", list(CAMPAIGNS))
def test_report_of_each_objective_shows_the_kpi_sets(
    objective: str, simulated: Simulated, settings: Settings, tmp_path: Path
) -> None:
    cid = CAMPAIGNS[objective]
    _load(settings, simulated.kpi_sets)
    data, html = _report(settings, cid, definition_file=_definition_file(tmp_path, simulated, cid))
    kpis = simulated.kpis(cid)
    for section in SECTIONS:
        assert f'data-section="{section}"' in html, section

    # The brief: the definition's.
    brief = data["brief"]
    assert brief["objective"] == objective == kpis["objective"]
    assert brief["currency"] == "EUR"
    assert brief["starts_text"] == "2025-03-03 08:00 UTC"
    assert brief["ends_text"] == "2025-03-05 08:00 UTC"
    assert brief["spend_minor"] == kpis["spend_minor"]
    assert brief["budget_used"] == kpis["budget_used"]
    definition = codec.loads(codec.loads(simulated.definition_lines(cid).splitlines()[0])["value"])
    assert brief["budget_minor"] == definition["budget_minor"]
    assert {t["kpi"]: t["target"] for t in brief["targets"]} == definition["targets"]
    assert "UTC" in brief["time_zone"]

    # Headline KPIs first, in the objective's order, equal to the campaign set, with progress.
    assert [e["kpi"] for e in data["headline"]] == list(headline_kpis(objective))
    progress = kpis["target_progress"]
    assert isinstance(progress, dict)
    for entry in data["headline"]:
        name = entry["kpi"]
        assert entry["present"] == (name in kpis)
        row = _row(html, f'data-headline="{name}"')
        if name in kpis:
            assert entry["value"] == kpis[name]
            if not isinstance(kpis[name], dict):
                assert _cell(row, name) == kpis[name]
        else:
            assert "data-absent" in row
        assert entry["progress"] == progress.get(name)
        if name in progress:
            assert entry["status"] in {"met", "missed"}  # the schedule is over
    # The rest is context, never headline.
    context = {e["kpi"]: e["value"] for e in data["context"]}
    assert not set(context) & set(headline_kpis(objective))
    for name, value in kpis.items():
        if name in headline_kpis(objective) or name in ("objective", "target_progress"):
            continue
        if name.startswith("content_score"):
            continue
        if name == "brand_lift":  # its own section, question by question
            assert isinstance(value, dict)
            shown = {q["question"]: q for q in data["brand_lift"]["questions"]}
            for question, entry in value.items():
                for field in ("exposed", "exposed_positive", "control", "control_positive"):
                    assert shown[question][field] == entry[field], (question, field)
            continue
        assert context[name] == value, name

    # Time series: every daily window, the hourly windows of the first 48 hours.
    daily = sorted((s for s in simulated.sets_of(cid) if s.scope == "campaign"
                    and s.window == "1d"), key=lambda s: s.window_start or 0)
    points = data["series"]["daily"]["points"]
    assert [p["start"] for p in points] == [s.window_start for s in daily]
    for point, kpi_set in zip(points, daily, strict=True):
        for name, value in point["values"].items():
            assert value == kpi_set.kpis.get(name), name
    launch = codec.parse_time("2025-03-03T08:00:00Z")
    assert launch is not None
    hourly = [s for s in simulated.sets_of(cid) if s.scope == "campaign" and s.window == "1h"
              and s.window_start is not None
              and launch // 1_000_000 <= s.window_start < launch // 1_000_000 + 48 * 3600]
    assert len(data["series"]["hourly"]["points"]) == len(hourly) > 24
    assert '<div class="chart" data-chart="daily"><svg' in html
    assert '<div class="chart" data-chart="hourly"><svg' in html

    # Influencers: a row per influencer set, equal values, the roster's tier.
    tiers = {i["influencer_id"]: i["tier"] for i in definition["influencers"]}
    influencer_sets = {s.scope_id: s.kpis for s in simulated.sets_of(cid)
                       if s.scope == "influencer" and s.window == "all"}
    rows = data["influencers"]["rows"]
    assert {r["influencer_id"] for r in rows} == set(influencer_sets)
    for row in rows:
        source = influencer_sets[row["influencer_id"]]
        assert row["tier"] == tiers[row["influencer_id"]]
        assert row["spend_minor"]["value"] == source["spend_minor"]
        html_row = _row(html, f'data-influencer="{row["influencer_id"]}"')
        for name in data["influencers"]["columns"]:
            assert row["kpis"][name]["value"] == source.get(name)
            if name in source:
                assert _cell(html_row, name) == source[name]
    post_sets = {s.scope_id: s.kpis for s in simulated.sets_of(cid)
                 if s.scope == "post" and s.window == "all"}
    assert {r["post_id"] for r in data["posts"]["rows"]} == set(post_sets)
    # Breakdowns by tier (the roster) and by platform and format (the posts' attributes).
    assert data["breakdowns"]["tier"] is not None
    assert sum(r["members"] for r in data["breakdowns"]["tier"]) == len(influencer_sets)
    published = [p for p in post_sets.values() if "platform" in p]
    for attribute in ("platform", "format"):
        groups = data["breakdowns"][attribute]
        assert groups is not None
        assert sum(r["members"] for r in groups) == len(published)
        assert {r["group"] for r in groups} == {p[attribute] for p in published}

    # Content quality, per criterion, per influencer and per post, apart from the figures.
    quality = data["content_quality"]
    for name in ("content_score", *(f"content_score_{c}" for c in CRITERIA)):
        assert quality["campaign"]["values"][name] == kpis.get(name)
        assert _cell(_row(html, 'data-scores="campaign"'), name) == kpis.get(name)
    for post in quality["posts"]:
        assert post["values"]["content_score"] == post_sets[post["id"]].get("content_score")

    # Brand lift: every question of the campaign set, or said to be missing.
    lift = kpis.get("brand_lift")
    if isinstance(lift, dict) and lift:
        assert [q["question"] for q in data["brand_lift"]["questions"]] == list(lift)
        assert data["brand_lift"]["missing"] == []
    else:
        assert data["brand_lift"]["questions"] == []
        assert data["brand_lift"]["missing"]

    # Data quality: equal to the campaign set.
    quality_rows = {q["kpi"]: q for q in data["data_quality"]["rows"]}
    for name in ("duplicate_events", "late_events", "clicks_bot", "clicks_repeat",
                 "stale_snapshots"):
        assert quality_rows[name]["present"]
        assert quality_rows[name]["value"] == kpis[name]
        assert _cell(_row(html, f'data-quality="{name}"'), name) == kpis[name]
    assert quality_rows["clicks_bot"]["share"] == kpis["clicks_bot"] / kpis["clicks"]  # type: ignore[operator]

    # Recommendations name their rule; the rules and thresholds are listed.
    for recommendation in data["recommendations"]:
        assert f'data-rule="{recommendation["rule"]}"' in html
    assert {r["name"] for r in data["rules"]} >= {"reallocate_budget", "too_few_events"}

    # The v2 engine wrote these sets: nothing is said to be missing for want of v2.
    assert not [m for m in data["missing"] if "contract v2" in m]
    if objective == "conversion":
        shown = {e["kpi"]: e for e in data["headline"]}
        assert shown["conversions"]["present"]
        assert shown["revenue_net_minor"]["present"]

    # --json writes the same content.
    again = codec.loads(to_json(data))
    assert again["headline"] == codec.loads(codec.dumps(data["headline"]))
    assert again["campaign_id"] == cid


def test_comparison_only_with_the_same_objective(
    simulated: Simulated, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = CAMPAIGNS["awareness"]
    # The reach the campaign has: distinct, or summed over platform-tracked posts.
    kpi = next(name for name in ("reach", "reach_sum") if simulated.kpis(cid).get(name))
    reach = simulated.kpis(cid)[kpi]
    assert isinstance(reach, int)
    peer = renamed(simulated.sets_of(cid), "peer-awareness", **{kpi: reach // 2})
    _load(settings, [*simulated.kpi_sets, *peer])
    data, html = _report(settings, cid, definition_file=_definition_file(tmp_path, simulated, cid))
    comparison = data["comparison"]
    assert comparison["peer_ids"] == ["peer-awareness"]  # not the other objectives' campaigns
    by_kpi = {k["kpi"]: k for k in comparison["kpis"]}
    assert by_kpi[kpi]["percentile"] == 100.0
    assert by_kpi[kpi]["value"] == reach
    assert by_kpi["impressions"]["percentile"] == 50.0  # a tie
    # Money is compared within one currency only: the peer has no definition, so no CPM rank.
    assert by_kpi["cpm_minor"]["compared_with"] == 0
    assert f'data-compare="{kpi}"' in html

    # Asking to compare across objectives is refused, clearly.
    request = ReportRequest(campaign_id=cid, compare_with=(CAMPAIGNS["conversion"],),
                            definition_file=_definition_file(tmp_path, simulated, cid))
    env = {"REPORT_KAFKA_TIMEOUT_S": "5"}
    assert main(request, settings, env=env) == 2
    message = capsys.readouterr().err
    assert "objective conversion" in message
    assert "same objective" in message
    portfolio = ReportRequest(all_objective="awareness,conversion")
    assert main(portfolio, settings, env=env) == 2
    assert "never put side by side" in capsys.readouterr().err


async def test_definition_dead_letters_and_history_from_kafka(
    simulated: Simulated, settings: Settings, admin: KafkaAdmin
) -> None:
    cid = CAMPAIGNS["engagement"]
    s = settings
    await admin.create_topics(s.topic("campaigns"), s.dlq_topic_name, s.kpi_topic_name,
                              partitions=2)
    records = [codec.loads(line) for line in simulated.definition_lines(cid).splitlines()]
    await produce(admin.bootstrap, s.topic("campaigns"),
                  [(r["key"].encode(), r["value"].encode()) for r in records])
    letters = simulated.dead_letters()
    await produce(admin.bootstrap, s.dlq_topic_name, [
        (d["key"].encode() if d["key_encoding"] == "utf-8" else None, codec.dumps(d))
        for d in letters
    ])
    windowed = [k for k in simulated.sets_of(cid) if k.scope == "campaign" and k.window != "all"]
    await produce(admin.bootstrap, s.kpi_topic_name, [
        (k.key.encode(), codec.dumps(k.to_value(1))) for k in windowed
    ])
    # Redis has only the `all` sets: the daily and hourly windows have "expired".
    await write_sets(settings, [k for k in simulated.kpi_sets if k.window == "all"])
    data, html = await make_report(
        ReportRequest(campaign_id=cid), settings, replace(REPORT, history="topic"), now_s=NOW_S
    )
    assert data["brief"]["source"] == f"Kafka topic {s.topic('campaigns')}", data["missing"]
    assert data["brief"]["name"] == codec.loads(records[0]["value"])["name"]
    expected = Counter(d["reason"] for d in letters if d["key"] == cid)
    assert sum(expected.values()) > 0
    dead = data["data_quality"]["dead_letters"]
    assert dead["by_reason"] == dict(sorted(expected.items()))
    assert dead["total"] == sum(expected.values())
    assert f'data-reason="{next(iter(expected))}"' in html
    daily = sorted((k for k in windowed if k.window == "1d"), key=lambda k: k.window_start or 0)
    points = data["series"]["daily"]["points"]
    assert [p["start"] for p in points] == [k.window_start for k in daily]
    assert points[0]["values"]["engagements"] == daily[0].kpis["engagements"]
    assert data["series"]["source"] == f"Redis and the KPI topic {s.kpi_topic_name}"
    assert data["series"]["hourly"]["points"]


def _replayed(sim: Simulated, campaign_id: str, edit: Any = None,
              only_definition: bool = False) -> list[KpiSet]:
    """Replay one campaign's lines, its definition edited by ``edit``."""
    from streams.replay import read_lines
    from streams.replay import run as replay_run

    lines = []
    for raw in sim.lines.splitlines():
        record = codec.loads(raw)
        if record.get("key") != campaign_id:
            continue
        line = raw
        if record["topic"] == "campaigns" and edit is not None:
            value = codec.loads(record["value"])
            edit(value)
            record["value"] = codec.dumps(value).decode()
            line = codec.dumps(record)
        elif only_definition and record["topic"] != "campaigns":
            continue
        lines.append(line)
    replay = replay_run(read_lines(io.BytesIO(b"\n".join(lines) + b"\n")), Settings())
    return list(replay.engine.all_sets())


def test_campaign_with_no_events(
    simulated: Simulated, settings: Settings, tmp_path: Path
) -> None:
    cid = CAMPAIGNS["conversion"]
    _load(settings, _replayed(simulated, cid, only_definition=True))
    data, html = _report(settings, cid, definition_file=_definition_file(tmp_path, simulated, cid))
    assert "no post and no impression counted yet" in data["missing"]
    assert data["influencers"]["missing"] == ["no influencer KPI sets"]
    assert data["series"]["missing"]
    assert "data-missing" in html
    assert data["headline"][0]["value"] == 0


def test_campaign_with_no_targets(
    simulated: Simulated, settings: Settings, tmp_path: Path
) -> None:
    cid = CAMPAIGNS["engagement"]

    def no_targets(value: dict[str, Any]) -> None:
        del value["targets"]

    _load(settings, _replayed(simulated, cid, edit=no_targets))
    path = tmp_path / "definition.json"
    value = codec.loads(codec.loads(simulated.definition_lines(cid).splitlines()[0])["value"])
    no_targets(value)
    path.write_bytes(codec.dumps(value))
    data, html = _report(settings, cid, definition_file=str(path))
    assert any("no targets" in m for m in data["missing"])
    assert all(e["progress"] is None for e in data["headline"])
    assert data["headline"][0]["value"] == simulated.kpis(cid)["engagements"]
    assert "no targets in the brief" in html


def test_campaign_with_no_definition(simulated: Simulated, settings: Settings) -> None:
    cid = CAMPAIGNS["awareness"]
    _load(settings, simulated.kpi_sets)
    data, html = _report(settings, cid)  # this test's topics do not exist
    kpis = simulated.kpis(cid)
    assert any("campaign definitions: cannot read Kafka topic" in m for m in data["missing"])
    assert any("no campaign definition" in m for m in data["missing"])
    brief = data["brief"]
    assert brief["objective"] == "awareness"
    assert brief["source"] == "derived from the campaign KPI set"
    assert brief["currency"] is None
    assert "minor units" in brief["spend_text"]
    spend, used = kpis["spend_minor"], kpis["budget_used"]
    assert isinstance(spend, int)
    assert isinstance(used, float)
    assert brief["budget_minor"] == round(spend / used)
    assert data["elapsed"] is None
    assert any("pacing cannot be computed" in m for m in data["missing"])
    assert data["headline"][0]["value"] == kpis["reach"]
    assert 'data-section="headline"' in html


def test_unknown_campaign_exits_1(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    request = ReportRequest(campaign_id="no-such-campaign")
    assert main(request, settings, env={"REPORT_KAFKA_TIMEOUT_S": "5"}) == 1
    assert "nothing is known of campaign no-such-campaign" in capsys.readouterr().err


def _v2_campaign() -> list[KpiSet]:
    """A campaign whose posts report platform snapshots only, in the shape of contract v2."""
    cid = "v2-platform-only"
    posts = [
        ("v2p1", "ana.mode", "instagram", "reel", 3000, 5200, 410),
        ("v2p2", "ana.mode", "tiktok", "video", 2000, 4100, 380),
        ("v2p3", "ben.velo", "instagram", "story", 1200, 1500, 35),
    ]
    sets = []
    for pid, owner, platform, fmt, reach, impressions, engagements in posts:
        sets.append(KpiSet(cid, "post", pid, "all", None, None, {
            "posts": 1, "potential_reach": 9000, "spend_minor": 20000,
            "impressions": impressions, "views": 0, "likes": engagements, "comments": 0,
            "shares": 0, "saves": 0, "replies": 0, "engagements": engagements, "reach": reach,
            "clicks": 0, "clicks_valid": 0, "clicks_bot": 0, "clicks_repeat": 0, "reviews": 0,
            "cpm_minor": 20000 * 1000 / impressions, "influencer_id": owner,
            "platform": platform, "format": fmt, "published_at": 1_741_000_000,
            "metrics_source": "platform",
        }))
    for iid, tier, reach_sum, impressions in (("ana.mode", "micro", 5000, 9300),
                                               ("ben.velo", "nano", 1200, 1500)):
        sets.append(KpiSet(cid, "influencer", iid, "all", None, None, {
            "posts": 2 if iid == "ana.mode" else 1, "impressions": impressions, "reach": 0,
            "reach_sum": reach_sum, "engagements": 100, "spend_minor": 40000, "tier": tier,
        }))
    sets.append(KpiSet(cid, "campaign", cid, "all", None, None, {
        "posts": 3, "influencers_active": 2, "potential_reach": 27000, "spend_minor": 60000,
        "impressions": 10800, "engagements": 825, "reach": 0, "reach_sum": 6200,
        "stale_snapshots": 4, "duplicate_events": 0, "late_events": 2, "clicks": 0,
        "clicks_bot": 0, "clicks_repeat": 0, "clicks_valid": 0, "survey_responses": 1040,
        "cpm_minor": 60000 * 1000 / 10800, "engagement_rate_by_reach_sum": 825 / 6200,
        "objective": "awareness", "target_progress": {"impressions": 0.9},
        "brand_lift": {
            "awareness": {"exposed": 400, "exposed_positive": 160, "control": 400,
                          "control_positive": 100, "lift": 0.15, "relative_lift": 0.6,
                          "z": 4.55},
            "recall": {"exposed": 60, "exposed_positive": 20, "control": 180,
                       "control_positive": 50, "lift": 0.0556, "relative_lift": 0.2,
                       "z": 0.82},
        },
    }))
    return sets


def test_campaign_with_only_platform_snapshots(settings: Settings) -> None:
    sets = _v2_campaign()
    _load(settings, sets)
    data, html = _report(settings, "v2-platform-only")
    kpis = sets[-1].kpis
    headline = {e["kpi"]: e for e in data["headline"]}
    assert headline["reach"]["value"] == 0
    assert headline["reach_sum"]["value"] == 6200
    notes = data["data_quality"]["notes"]
    assert any("platform snapshots" in n and "reach_sum" in n for n in notes)
    assert any("3 platform" in n for n in data["data_quality"]["notes"])
    stale = {q["kpi"]: q for q in data["data_quality"]["rows"]}["stale_snapshots"]
    assert stale["value"] == 4
    # The v2 attributes: platforms per influencer, breakdowns by platform, format and tier.
    rows = {r["influencer_id"]: r for r in data["influencers"]["rows"]}
    assert rows["ana.mode"]["platforms"] == ["instagram", "tiktok"]
    assert rows["ana.mode"]["tier"] == "micro"
    assert rows["ana.mode"]["tier_source"] == "KPI set"
    platforms = {r["group"]: r for r in data["breakdowns"]["platform"]}
    assert platforms["instagram"]["members"] == 2
    assert platforms["instagram"]["kpis"]["reach_sum"]["value"] == 3000 + 1200
    assert platforms["instagram"]["kpis"]["impressions"]["value"] == 5200 + 1500
    assert {r["group"] for r in data["breakdowns"]["format"]} == {"reel", "video", "story"}
    assert {r["group"] for r in data["breakdowns"]["tier"]} == {"micro", "nano"}
    post = {r["post_id"]: r for r in data["posts"]["rows"]}["v2p2"]
    assert (post["platform"], post["format"], post["metrics_source"]) == (
        "tiktok", "video", "platform"
    )
    # Brand lift, question by question, with the too-small warning.
    lift = {q["question"]: q for q in data["brand_lift"]["questions"]}
    assert lift["awareness"]["significant"]
    assert not lift["awareness"]["too_small"]
    assert not lift["recall"]["significant"]
    assert lift["recall"]["too_small"]
    brand_lift = kpis["brand_lift"]
    assert isinstance(brand_lift, dict)
    assert lift["recall"]["lift"] == brand_lift["recall"]["lift"]
    assert "data-too-small" in _row(html, 'data-question="recall"')
    assert any(r["rule"] == "brand_lift_sample" for r in data["recommendations"])


def test_alerts_section_shows_the_workers_records(
    simulated: Simulated, settings: Settings
) -> None:
    cid = CAMPAIGNS["awareness"]
    _load(settings, simulated.sets_of(cid))
    data, html = _report(settings, cid)
    assert data["alerts"]["items"] == []
    assert "No alert fired." in html
    opened = {
        "campaign_id": cid, "rule": "pacing_behind", "scope": "campaign", "scope_id": "reach",
        "severity": "warning", "state": "open", "message": "reach is behind its target",
        "figures": {"pace": 0.61}, "first_seen": 1_741_000_000_000,
        "last_seen": 1_741_003_600_000, "resolved_at": None,
    }
    cleared = {**opened, "rule": "bot_clicks", "scope": "link", "scope_id": "lnk-1",
               "severity": "critical", "state": "resolved", "message": "bots on lnk-1",
               "resolved_at": 1_741_007_200_000}
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.hset(alerts_key(cid), mapping={
            "pacing_behind|campaign|reach": codec.dumps(opened),
            "bot_clicks|link|lnk-1": codec.dumps(cleared),
            "not|an|alert": b"{}",
        })
    finally:
        client.close()
    data, html = _report(settings, cid)
    items = data["alerts"]["items"]
    assert [(a["rule"], a["state"]) for a in items] == [
        ("pacing_behind", "open"), ("bot_clicks", "resolved")
    ]
    assert data["alerts"]["open"] == 1
    assert data["alerts"]["unreadable"] == 1
    row = _row(html, 'data-alert="pacing_behind|campaign|reach"')
    assert "reach is behind its target" in row
    assert "open" in row
    assert "cleared" in _row(html, 'data-alert="bot_clicks|link|lnk-1"')


def test_portfolio_of_one_objective(
    simulated: Simulated, settings: Settings, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cid = CAMPAIGNS["engagement"]
    engagements = simulated.kpis(cid)["engagements"]
    assert isinstance(engagements, int)
    peer = renamed(simulated.sets_of(cid), "peer-engagement", engagements=engagements * 2)
    _load(settings, [*simulated.kpi_sets, *peer])
    out = tmp_path / "portfolio.html"
    request = ReportRequest(all_objective="engagement", out=str(out))
    assert main(request, settings, env={"REPORT_KAFKA_TIMEOUT_S": "5"}) == 0
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text()
    assert 'data-campaign="sim-02-engagement"' in html
    assert 'data-campaign="peer-engagement"' in html
    assert "sim-01-awareness" not in html
    assert "sim-03-conversion" not in html
    row = _row(html, 'data-campaign="peer-engagement"')
    assert _cell(row, "engagements") == engagements * 2
    data, _ = asyncio.run(make_report(request, settings, REPORT, now_s=NOW_S))
    ranks = {c["campaign_id"]: c["kpis"]["engagements"]["percentile"] for c in data["campaigns"]}
    assert ranks == {"peer-engagement": 100.0, "sim-02-engagement": 0.0}
    assert '<div class="chart" data-chart="engagements"><svg' in html
