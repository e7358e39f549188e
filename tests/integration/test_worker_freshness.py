"""Freshness (docs/contract.md, section 3): a processed event is visible in Redis within 2 s."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from streams import codec
from streams.connections import kafka_options, redis_client
from streams.sinks.redis import key_for

from .worker_harness import Harness, InputRecord, Produced

SAMPLES = 8
BOUND_S = 2.0


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_an_event_shows_in_redis_within_two_seconds(harness: Harness) -> None:
    """One like at a time on a caught-up worker, each timed from its produce to Redis."""
    settings = harness.settings
    cid = f"{harness.name}-c"
    now = datetime.now(UTC)
    definition = {
        "event_id": "def-1", "type": "campaign", "occurred_at": _iso(now), "campaign_id": cid,
        "name": "Freshness", "objective": "engagement", "starts_at": _iso(now - timedelta(1)),
        "ends_at": _iso(now + timedelta(1)), "currency": "EUR",
        "influencers": [{"influencer_id": "i1"}],
    }
    harness.start_worker(KPI_FLUSH_INTERVAL_S="1.0")  # the default (the harness sets 0.3)
    stamp_ms = int(now.timestamp() * 1000)
    await harness.produce(
        [InputRecord("campaigns", cid.encode(), codec.dumps(definition), stamp_ms)], Produced()
    )
    await harness.wait_processed(timeout_s=60)

    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    client = redis_client(settings)
    key = key_for(cid, "campaign", cid, "all", None)
    latencies = []
    await producer.start()
    try:
        for number in range(1, SAMPLES + 1):
            like = {
                "event_id": f"like-{number}", "type": "interaction",
                "occurred_at": _iso(datetime.now(UTC)), "campaign_id": cid, "post_id": "p1",
                "influencer_id": "i1", "action": "like", "viewer_id": f"v{number}",
            }
            started = time.monotonic()
            await producer.send_and_wait(
                settings.topic("interactions"), codec.dumps(like), key=cid.encode()
            )
            while await client.hget(key, "likes") != str(number).encode():
                assert time.monotonic() - started < 30, f"like {number} never reached Redis"
                await asyncio.sleep(0.01)
            latencies.append(round(time.monotonic() - started, 3))
            await asyncio.sleep(0.5)
    finally:
        await producer.stop()
        await client.aclose()
    print(f"\nproduced -> visible in Redis, s: {latencies}")
    assert max(latencies) < BOUND_S, latencies
