"""Forget requests: their record, the replay applying them, production mode's key rule."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from streams import codec, replay
from streams.config import Settings
from streams.control import BadRequest, ForgetRequest, parse_request
from streams.journal import cell_campaign

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = {
    "type": "campaign", "event_id": "e0", "campaign_id": "c1",
    "occurred_at": "2026-05-01T00:00:00Z", "name": "Spring", "objective": "awareness",
    "starts_at": "2026-05-01T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z",
    "influencers": [{"influencer_id": "i1", "tier": "micro"}],
}


def interaction(event_id: str, viewer: str) -> dict[str, object]:
    return {
        "type": "interaction", "event_id": event_id, "campaign_id": "c1",
        "occurred_at": "2026-05-02T10:00:00Z", "post_id": "p1", "influencer_id": "i1",
        "platform": "instagram", "action": "impression", "viewer_id": viewer,
    }


def test_a_request_reads_back_and_a_malformed_one_is_refused() -> None:
    request = ForgetRequest("c1", "r-1")
    key, value = request.record()
    assert parse_request(key, value) == request
    with pytest.raises(BadRequest, match="key must be its campaign_id"):
        parse_request(b"c2", value)
    with pytest.raises(BadRequest, match="request_id"):
        parse_request(key, codec.dumps({"type": "forget", "campaign_id": "c1"}))
    with pytest.raises(BadRequest, match="not a forget request"):
        parse_request(key, b'{"type": "remember", "campaign_id": "c1"}')
    with pytest.raises(BadRequest, match="not JSON"):
        parse_request(key, b"{")


def test_cells_name_their_campaign() -> None:
    assert cell_campaign("a|c1|campaign|c1|all|all") == "c1"
    assert cell_campaign("#|2|w|c1|campaign|c1|1m|0") == "c1"
    assert cell_campaign("d|c1") == "c1"
    assert cell_campaign("p|3") is None


def _lines(*objects: Mapping[str, object]) -> list[tuple[int, bytes]]:
    return [(n, codec.dumps(o)) for n, o in enumerate(objects, start=1)]


def test_the_replay_forgets_where_the_request_stands_and_counts_anew_after() -> None:
    settings = Settings()
    key, value = ForgetRequest("c1", "r1").record()
    envelope = {"topic": settings.control_topic_name, "key": key.decode(),
                "value": value.decode()}
    result = replay.run(_lines(
        CAMPAIGN, interaction("e1", "v1"), interaction("e2", "v2"), envelope,
        interaction("e3", "v3"),
    ), settings)
    (campaign_all,) = [v for v in result.results()
                       if v["scope"] == "campaign" and v["window"] == "all"]
    # The new state knows only what followed: one impression, no definition.
    assert campaign_all["kpis"]["impressions"] == 1
    assert "objective" not in campaign_all["kpis"]
    assert result.summary.forgotten == 1

    bare = replay.run(_lines(
        CAMPAIGN, interaction("e1", "v1"), {"type": "forget", "campaign_id": "c1",
                                            "request_id": "r1"},
    ), settings)
    assert bare.results() == []
    assert "forget requests 1" in bare.summary.describe()


def test_a_control_record_that_is_no_request_is_a_bad_line() -> None:
    settings = Settings()
    result = replay.run(_lines(
        CAMPAIGN, interaction("e1", "v1"),
        {"topic": settings.control_topic_name, "key": "c1", "value": '{"type": "forget"}'},
        {"type": "forget", "campaign_id": "c1"},
    ), settings)
    assert result.summary.bad_lines == 2
    assert result.results()  # the campaign was not forgotten


def test_production_mode_needs_a_pseudonym_key() -> None:
    assert Settings.from_env({"KPI_PRODUCTION": "true"}).production_problems()
    assert not Settings.from_env({"KPI_PRODUCTION": "true",
                                  "KPI_PSEUDONYM_KEY": "k" * 32}).production_problems()
    assert not Settings.from_env({}).production_problems()


def test_a_worker_in_production_mode_without_the_key_exits_78_before_connecting() -> None:
    # Kafka at a port nothing listens on: the worker must stop before trying it.
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT,
        env={"KPI_PRODUCTION": "true", "KAFKA_BOOTSTRAP": "127.0.0.1:9", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 78, done.stderr
    assert "KPI_PRODUCTION=true needs KPI_PSEUDONYM_KEY" in done.stderr
    # A short key is refused by its own rule, in every mode, as any bad setting.
    short = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT,
        env={"KPI_PRODUCTION": "true", "KPI_PSEUDONYM_KEY": "short", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert short.returncode == 2
    assert "KPI_PSEUDONYM_KEY=(secret)" in short.stderr
