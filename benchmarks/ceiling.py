"""The ceiling: a plain aiokafka consumer that decodes each record with orjson and counts.

Run by :mod:`benchmarks.bench` as a subprocess (its own CPU and memory figures):
``python -m benchmarks.ceiling BOOTSTRAP PARTITIONS TOTAL TOPIC...``. Reads every partition
of the topics from the beginning until TOTAL records were seen, counting records per
campaign, and prints one JSON object: records, seconds, CPU seconds, peak RSS.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections import Counter

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from benchmarks.kafka_io import peak_rss


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def consume(bootstrap: str, topics: list[str], partitions: int, total: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        per_campaign: Counter[str] = Counter()
        seen = 0
        loads = orjson.loads
        started, cpu0 = time.monotonic(), _cpu_s()
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for records in batches.values():
                for record in records:
                    seen += 1
                    try:
                        obj = loads(record.value)
                    except orjson.JSONDecodeError:
                        continue
                    campaign = obj.get("campaign_id") if type(obj) is dict else None
                    if type(campaign) is str:
                        per_campaign[campaign] += 1
        elapsed, cpu = time.monotonic() - started, _cpu_s() - cpu0
    finally:
        await consumer.stop()
    result = {
        "records": seen,
        "seconds": elapsed,
        "cpu_s": cpu,
        "peak_rss_bytes": peak_rss(),
        "campaigns": len(per_campaign),
    }
    print(orjson.dumps(result).decode(), flush=True)


def main() -> None:
    bootstrap, partitions, total, *topics = sys.argv[1:]
    asyncio.run(consume(bootstrap, topics, int(partitions), int(total)))


if __name__ == "__main__":
    main()
