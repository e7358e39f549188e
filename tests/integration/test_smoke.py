"""Smoke tests: the clients we build on work against the real services of `make services`.

The Faust test is the model for the streaming worker's tests: its own topics, consumer
group and app id (``unique_name``), the app started in-process, every wait bounded, and a
clean stop even when an assertion fails.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import faust
import redis.asyncio as aioredis

from .support import KafkaAdmin, ServiceAddresses, consume, produce, running, wait_until

WAIT_S = 60.0


async def test_kafka_produce_consume_round_trip(
    kafka_bootstrap: str, admin: KafkaAdmin, unique_name: str
) -> None:
    topic = f"{unique_name}-roundtrip"
    await admin.create_topics(topic, partitions=3)
    sent = [(f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(30)]

    await produce(kafka_bootstrap, topic, sent)
    received = await consume(
        kafka_bootstrap, topic, len(sent), group_id=f"{unique_name}-group", timeout_s=WAIT_S
    )

    assert sorted((r.key, r.value) for r in received) == sorted(sent)
    # Same key, same partition, in order.
    per_key: dict[bytes, list[bytes]] = {}
    for r in sorted(received, key=lambda r: (r.partition, r.offset)):
        per_key.setdefault(r.key, []).append(r.value)
    for key, values in per_key.items():
        assert values == [v for k, v in sent if k == key]


def make_faust_app(
    addresses: ServiceAddresses, app_id: str, replication_factor: int, datadir: Path
) -> faust.App:
    """A Faust app on the real broker with in-memory table stores and no web server."""
    return faust.App(
        app_id,  # also the consumer group and the prefix of its internal topics
        broker=addresses.faust_broker,
        store="memory://",
        datadir=str(datadir),  # not the working directory
        web_enabled=False,
        autodiscover=False,
        topic_partitions=1,
        topic_replication_factor=replication_factor,
        consumer_auto_offset_reset="earliest",
    )


async def test_faust_agent_updates_changelogged_table(
    service_addresses: ServiceAddresses,
    kafka_bootstrap: str,
    admin: KafkaAdmin,
    unique_name: str,
    tmp_path: Path,
) -> None:
    app = make_faust_app(service_addresses, unique_name, admin.replication_factor, tmp_path)
    source_name = f"{unique_name}-events"
    await admin.create_topics(source_name)
    # The app's own topics (changelog, assignor leader) are deleted with the test's topics.
    admin.created.extend([f"{unique_name}-counts-changelog", f"{unique_name}-__assignor-__leader"])
    source = app.topic(source_name, key_type=bytes, value_type=bytes)
    counts = app.Table("counts", default=int, partitions=1)

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for key, _value in stream.items():
            counts[key.decode()] += 1

    keys = ["campaign-a"] * 5 + ["campaign-b"] * 3 + ["campaign-c"]
    expected = Counter(keys)
    await produce(kafka_bootstrap, source_name, [(k.encode(), b"{}") for k in keys])

    async with running(app):
        await wait_until(
            lambda: {k: counts.get(k) for k in expected} == dict(expected),
            f"table counts {dict(expected)}",
            timeout_s=WAIT_S,
            app=app,
        )

    # Every update went to the changelog topic (json keys and values by default); the last
    # record per key holds the final count.
    changelog = counts.changelog_topic.get_topic_name()
    assert changelog == f"{unique_name}-counts-changelog"
    records = await consume(kafka_bootstrap, changelog, len(keys), timeout_s=WAIT_S)
    latest = {json.loads(r.key): json.loads(r.value) for r in records}
    assert latest == dict(expected)


async def test_redis_read_write(redis_url: str, unique_name: str) -> None:
    client = aioredis.from_url(redis_url, socket_timeout=5)
    key = f"{unique_name}:kpi"
    try:
        assert await client.ping()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"impressions": 10, "clicks": 2})
            pipe.expire(key, 60)
            await pipe.execute()
        assert await client.hgetall(key) == {b"impressions": b"10", b"clicks": b"2"}
    finally:
        await client.delete(key)
        await client.aclose()


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.load(response)


def test_prometheus_healthy_and_answers_queries(prometheus_url: str) -> None:
    with urllib.request.urlopen(f"{prometheus_url}/-/healthy", timeout=10) as response:
        assert response.status == 200

    body = _get_json(f"{prometheus_url}/api/v1/query?query=up")
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"

    targets = _get_json(f"{prometheus_url}/api/v1/targets")
    jobs = {t["labels"]["job"] for t in targets["data"]["activeTargets"]}
    assert {"prometheus", "campaign-kpi-worker"} <= jobs
