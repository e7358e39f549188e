"""`campaign-kpi forget` against a real worker: the campaign erased from every output.

A worker processes the oracle generator's campaigns; `forget` erases the busiest one. The
compacted state topic, read back, holds no cell of it; the KPI and alerts topics hold no live
key of it; Redis holds none of its keys but the flush_seq fence, and the global indexes do
not list it; /metrics has no series of it; the other campaigns are untouched and everything
equals the replay of the same records with the forget request at the end. A restarted worker
does not bring the campaign back, and forgetting it again finds nothing.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streams import codec, replay
from streams.config import Settings
from streams.connections import redis_client
from streams.control import ForgetRequest
from streams.domain.vocabulary import OBJECTIVES
from streams.journal import cell_campaign
from streams.sinks.redis import campaign_prefix, campaigns_key, flush_seq_key, objective_key
from streams.topics import ensure_topics

from .support import KafkaAdmin
from .worker_harness import (
    Harness,
    InputRecord,
    define_campaigns,
    differences,
    empty_database,
    generated_records,
)

ROOT = Path(__file__).resolve().parents[2]
FORGET_DB = 14  # a Redis database of this file's own


@pytest.fixture
async def harness(
    kafka_bootstrap: str, redis_url: str, admin: KafkaAdmin, unique_name: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    """The integration harness on a database of its own, its workers running this checkout."""
    database_url = await empty_database(redis_url, FORGET_DB)
    made = Harness(
        unique_name, kafka_bootstrap, database_url, tmp_path,
        extra_env={"PYTHONPATH": str(ROOT)},
    )
    await ensure_topics(made.settings)
    try:
        yield made
    finally:
        made.stop_all()
        admin.created.extend(made.topic_names)


def forget(harness: Harness, campaign_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "forget", campaign_id, "--timeout", "90"],
        cwd=ROOT, env=harness.env, capture_output=True, text=True, check=False, timeout=300,
    )


def count(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in:\n{text}"
    return int(found.group(1))


def live(records: list[Any]) -> dict[str, Any]:
    """A compacted topic as its readers see it: the last value of each key."""
    values: dict[str, Any] = {}
    for record in records:
        key = record.key.decode()
        if record.value is None:
            values.pop(key, None)
        else:
            values[key] = record.value
    return values


async def outputs(harness: Harness) -> dict[str, dict[str, Any]]:
    """The live state cells, KPI-topic values and alerts-topic keys."""
    settings = harness.settings
    kpis = live(await harness.read_topic(settings.kpi_topic_name))
    return {
        "cells": live(await harness.read_topic(settings.state_topic_name)),
        "kpis": {key: codec.loads(value) for key, value in kpis.items()},
        "alerts": live(await harness.read_topic(settings.alerts_topic_name)),
    }


async def redis_state(harness: Harness, campaign_id: str) -> tuple[set[str], set[str]]:
    """The campaign's keys, and the global indexes that list it."""
    client = redis_client(harness.settings, decode_responses=True)
    try:
        keys = {key async for key in client.scan_iter(match="kpi:*", count=1000)
                if key.startswith(campaign_prefix(campaign_id))}
        indexes = set()
        for index in [campaigns_key(), *map(objective_key, OBJECTIVES)]:
            if await client.zscore(index, campaign_id) is not None:
                indexes.add(index)
        return keys, indexes
    finally:
        await client.aclose()


def series_of(port: str, campaign_id: str) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return [line for line in text.splitlines() if f'campaign_id="{campaign_id}"' in line]


def replay_with_forget(records: list[InputRecord], campaign_id: str) -> dict[str, Any]:
    """The replay's KPI values by key, the forget request last."""
    settings = Settings()
    key, value = ForgetRequest(campaign_id, "r").record()
    lines = [
        codec.dumps({"topic": r.topic, "key": None if r.key is None else r.key.decode(),
                     "value": r.value.decode("utf-8", "surrogatepass"),
                     "timestamp": r.timestamp_ms})
        for r in records
    ]
    lines.append(codec.dumps({"topic": settings.control_topic_name, "key": key.decode(),
                              "value": value.decode()}))
    result = replay.run(enumerate(lines, start=1), settings)
    return {
        "|".join(str(v[f]) if v[f] is not None else "all"
                 for f in ("campaign_id", "scope", "scope_id", "window", "window_start")): v
        for v in result.results()
    }


async def test_forget_erases_a_campaign_everywhere_and_a_restart_keeps_it_erased(
    harness: Harness,
) -> None:
    records = generated_records(31, 3000)
    worker = harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    await harness.produce(events, produced)
    await harness.wait_processed()
    cid = Counter(r.key for r in events if r.key is not None).most_common(1)[0][0].decode()

    before = await outputs(harness)
    cells = {k for k in before["cells"] if cell_campaign(k) == cid}
    kpi_keys = {k for k in before["kpis"] if k.startswith(f"{cid}|")}
    others = {k: v for k, v in before["kpis"].items() if not k.startswith(f"{cid}|")}
    keys, indexes = await redis_state(harness, cid)
    assert cells
    assert kpi_keys
    assert flush_seq_key(cid) in keys
    assert campaigns_key() in indexes
    assert series_of(worker.env["KPI_WEB_PORT"], cid)

    done = await asyncio.to_thread(forget, harness, cid)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert count(r"state topic: (\d+) cells deleted", out) >= len(cells)
    assert count(r"KPI topic: (\d+) KPI sets deleted", out) == len(kpi_keys)
    deleted = count(r"Redis: (\d+) keys deleted", out)
    swept = count(r"and (\d+) more", out) if "more the worker" in out else 0
    assert deleted + swept == len(keys) - 1  # all but the flush_seq fence

    after = await outputs(harness)
    assert [k for k in after["cells"] if cell_campaign(k) == cid] == []
    assert [k for k in after["kpis"] if k.startswith(f"{cid}|")] == []
    assert [k for k in after["alerts"] if k.startswith(f"{cid}|")] == []
    assert differences(others, after["kpis"]) == []  # the others untouched
    keys_after, indexes_after = await redis_state(harness, cid)
    assert keys_after == {flush_seq_key(cid)}
    assert indexes_after == set()
    assert series_of(worker.env["KPI_WEB_PORT"], cid) == []
    expected = replay_with_forget(records, cid)
    assert differences(expected, after["kpis"]) == []
    stored = await harness.redis_values(expected)
    assert differences({k: v["kpis"] for k, v in expected.items()}, stored) == []

    # A new worker restores the partitions without the campaign and rewrites what it holds.
    worker.stop()
    harness.start_worker()
    late = [r for r in events if r.key is not None and r.key.decode() != cid][-1:]
    await harness.produce(late, produced)  # a duplicate: processed once the worker is up
    await harness.wait_processed()
    await asyncio.sleep(2)  # the restored campaigns' rewrite into Redis follows the commit
    again = await outputs(harness)
    assert [k for k in again["cells"] if cell_campaign(k) == cid] == []
    assert [k for k in again["kpis"] if k.startswith(f"{cid}|")] == []
    keys_again, indexes_again = await redis_state(harness, cid)
    assert keys_again == {flush_seq_key(cid)}
    assert indexes_again == set()

    repeated = await asyncio.to_thread(forget, harness, cid)
    assert repeated.returncode == 3, repeated.stdout + repeated.stderr
    assert "unknown to the worker" in repeated.stdout


async def test_forget_without_a_worker_says_so_and_the_request_waits(harness: Harness) -> None:
    done = await asyncio.to_thread(
        lambda: subprocess.run(
            [sys.executable, "-m", "streams.cli", "forget", "c-absent", "--timeout", "3"],
            cwd=ROOT, env=harness.env, capture_output=True, text=True, check=False,
            timeout=120,
        )
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no worker acknowledged the request within 3 s" in done.stdout
    # The request stays queued: a worker started later answers it (unknown campaign).
    harness.start_worker()
    repeated = await asyncio.to_thread(forget, harness, "c-absent")
    assert repeated.returncode == 3, repeated.stdout + repeated.stderr
