"""A naive Faust implementation, written the way Faust's documentation suggests.

One agent per input topic, iterating events one at a time, each event updating a counter
per campaign and KPI in a ``Table`` (``store="memory://"``, changelogged to Kafka), JSON
values decoded by Faust's own ``json`` serializer. It does far less than our worker (no
windows, dedup, lateness, reach, attribution or sinks), so its rate is an upper bound for
a naive design.

Run by :mod:`benchmarks.bench` as a subprocess, configured by the environment:
``NAIVE_BOOTSTRAP``, ``NAIVE_TOPIC_PREFIX`` (input topics are ``<prefix><logical name>``),
``NAIVE_APP_ID``, ``NAIVE_PARTITIONS``, ``NAIVE_DATA_DIR`` and ``NAIVE_REPORT``: a file
that gets one JSON line per second with the wall time, the events processed so far, the
process's CPU seconds and its peak RSS.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import faust
import orjson

from benchmarks.kafka_io import peak_rss

LOGICAL_TOPICS = ("campaigns", "posts", "interactions", "clicks", "orders", "content-reviews")


def create_app(env: dict[str, str]) -> Any:
    prefix = env["NAIVE_TOPIC_PREFIX"]
    partitions = int(env.get("NAIVE_PARTITIONS", "4"))
    app = faust.App(
        env["NAIVE_APP_ID"],
        broker=f"kafka://{env['NAIVE_BOOTSTRAP']}",
        store="memory://",
        datadir=env["NAIVE_DATA_DIR"],
        autodiscover=False,
        web_enabled=False,
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
    )
    counts = app.Table("kpi-counts", default=int, partitions=partitions)
    processed = [0]

    def topic(logical: str) -> Any:
        return app.topic(f"{prefix}{logical}", value_serializer="json")

    @app.agent(topic("interactions"))
    async def interactions(stream: Any) -> None:
        async for event in stream:
            counts[f"{event.get('campaign_id')}|{event.get('action')}"] += event.get("count") or 1
            processed[0] += 1

    @app.agent(topic("clicks"))
    async def clicks(stream: Any) -> None:
        async for event in stream:
            counts[f"{event.get('campaign_id')}|clicks"] += 1
            processed[0] += 1

    @app.agent(topic("orders"))
    async def orders(stream: Any) -> None:
        async for event in stream:
            campaign = event.get("campaign_id")
            counts[f"{campaign}|orders"] += 1
            counts[f"{campaign}|revenue_minor"] += event.get("amount_minor") or 0
            processed[0] += 1

    @app.agent(topic("posts"))
    async def posts(stream: Any) -> None:
        async for event in stream:
            counts[f"{event.get('campaign_id')}|posts"] += 1
            processed[0] += 1

    @app.agent(topic("content-reviews"))
    async def reviews(stream: Any) -> None:
        async for event in stream:
            counts[f"{event.get('campaign_id')}|reviews"] += 1
            processed[0] += 1

    @app.agent(topic("campaigns"))
    async def campaigns(stream: Any) -> None:
        async for event in stream:
            counts[f"{event.get('campaign_id')}|definitions"] += 1
            processed[0] += 1

    report_path = env["NAIVE_REPORT"]

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def report() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        line = {
            "at": time.time(),
            "events": processed[0],
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_bytes": peak_rss(),
        }
        _append(report_path, orjson.dumps(line) + b"\n")

    return app


def _append(path: str, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data)


def main() -> None:
    app = create_app(dict(os.environ))
    worker = faust.Worker(app, loglevel="WARNING")
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
