"""Input at the contract's bounds through a real worker: the same values as the replay.

The case at the sizes of :mod:`tests.oracle.bounds` (a roster of 10,000, ids of 128 astral
code points, 18,500 posts at 10^15 followers and cost, every amount at its bound, a value of
exactly 64 KiB, JSON nested 1,024 deep) goes through `campaign-kpi worker` on the real
services. The KPI topic and Redis hold exactly the replay's values (integers past 2^64 as
integers, hash fields as decimal text), nothing is dead-lettered, and where outputs are
doubles (leaderboard scores, Prometheus samples) they are the nearest double of the value.
"""

from __future__ import annotations

import asyncio
import math

from prometheus_client.parser import text_string_to_metric_families

from streams import replay
from streams.config import Settings
from streams.connections import redis_client
from streams.sinks.redis import LEADERBOARD_KPIS, leaderboard_key

from ..oracle.bounds import BIG, lines
from .worker_harness import (
    NOW_MS,
    Harness,
    InputRecord,
    define_campaigns,
    differences,
    replay_expected,
)


def bound_records() -> list[InputRecord]:
    """The case's lines as records, stamped now (never in the future, never aged out)."""
    settings = Settings()
    records = []
    for number, line in enumerate(lines(BIG), start=1):
        parsed = replay.parse_line(number, line.encode(), settings)
        records.append(InputRecord(parsed.topic, parsed.key, parsed.value, NOW_MS))
    return records


async def test_input_at_the_bounds_through_a_worker_equals_the_replay(harness: Harness) -> None:
    records = bound_records()
    worker = harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    await harness.produce(events, produced)
    await harness.wait_processed(timeout_s=300)

    expected, reasons = replay_expected(records)
    assert not reasons, f"valid input was rejected: {reasons}"
    assert await harness.dead_letters() == []
    assert differences(expected, await harness.kpi_topic_values()) == []
    # Offsets are committed with the KPI topic, before Redis is written (the sinks overlap
    # with the next records): a flush of 18,500 post sets may still be on its way there.
    expected_kpis = {key: value["kpis"] for key, value in expected.items()}
    for _ in range(60):
        found = differences(expected_kpis, await harness.redis_values(expected))
        if not found:
            break
        await asyncio.sleep(0.5)
    assert found == []
    (campaign,) = [v for v in expected.values() if v["scope"] == "campaign"
                   and v["window"] == "all"]
    total = campaign["kpis"]["potential_reach"]
    assert total == 18_500 * 10**15 > 2**64

    # Doubles where the output is a double: the nearest one to the exact value.
    client = redis_client(harness.settings)
    try:
        checked = 0
        for value in expected.values():
            if value["scope"] != "influencer" or value["window"] != "all":
                continue
            for kpi in LEADERBOARD_KPIS:
                exact = value["kpis"].get(kpi)
                if exact is None:
                    continue
                key = leaderboard_key(value["campaign_id"], kpi)
                assert await client.zscore(key, value["scope_id"]) == float(exact), key
                checked += 1
        assert checked > 0
    finally:
        await client.aclose()
    samples = {
        sample.labels["kpi"]: sample.value
        for family in text_string_to_metric_families(worker.scrape())
        for sample in family.samples
        if sample.name == "campaign_kpi_value"
        and sample.labels["campaign_id"] == campaign["campaign_id"]
    }
    assert samples["potential_reach"] == float(total)
    assert samples["spend_minor"] == float(campaign["kpis"]["spend_minor"])
    assert all(math.isfinite(v) for v in samples.values())
