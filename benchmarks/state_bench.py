"""Bounded state: a worker's memory and state topic over weeks of event time (issue 13, item 2).

``make bench-state`` (or ``.venv/bin/python benchmarks/state_bench.py [--events N --days D
--campaigns C]``), with the services of ``make services`` running. One run streams the
benchmark's interaction-heavy mix (:mod:`benchmarks.workload`; defaults: 2,000,000 events of
20 campaigns over 60 days of event time) to topics of its own, one simulated day at a time,
into one ``campaign-kpi worker``. After each day is processed (the group committed it all) it
prints one line:

    day, events so far, the worker's RSS (VmRSS) in MiB, the state topic's live size in MiB
    (the latest value of each key, tombstones removing theirs: what compaction keeps, counted
    by reading the topic) split by kind of cell, and the state the worker reports holding
    (campaign_kpi_*_held on /metrics).

The last line compares the growth per day of RSS and of the live state over the last week with
the first week's: the contract's bounded state (3) says both go flat once windows turn final
and their retention passes, except for what it keeps for ever (the ids of topics with an
unbounded dedup horizon: posts, orders, reviews, ...), which grows with those events.

Each campaign gets one conversion a day: the worker drops a block of packed windows only once
every topic that feeds windows has a lateness reference past it (docs/contract-decisions.md;
a topic's next record may land anywhere after its reference), and the mix has no conversions
of its own. Topics and Redis keys of the run are deleted at the end
(``--keep`` keeps them). Defaults of the worker's settings apply (``--worker-env`` changes
them: the Redis TTLs are also the retention of packed windows, 2 / 14 / 180 days).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from benchmarks.bench import (
    MIB,
    PARTITIONS,
    ROOT,
    WorkerRun,
    _worker_pid,
    cleanup,
    say,
    services_env,
    start_worker,
    stop_process,
)
from benchmarks.kafka_io import BatchProducer, GroupOffsets, create_topics, end_offsets, rss
from benchmarks.workload import Record, Workload
from streams import records as build
from streams.config import Settings
from streams.domain.vocabulary import Topic

DAY_S = 86_400
WEEK = 7
# Cells of the state topic by the first field of their key (streams/journal.py).
CELL_KINDS = {
    "a": "aggregates", "w": "packed windows", "l": "event ids", "P": "entities", "o": "entities",
    "r": "entities", "s": "entities", "v": "entities", "L": "entities",
}
HELD = ("campaigns", "kpi_sets", "open_windows", "window_blocks")


@dataclass(frozen=True)
class Day:
    day: int
    events: int
    rss_bytes: int
    state_bytes: int
    by_kind: dict[str, int]
    held: dict[str, float]


class LiveState:
    """The state topic as compaction leaves it: the latest value of each key."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed",
            enable_auto_commit=False, max_partition_fetch_bytes=8 << 20,
        )
        self.sizes: dict[bytes, int] = {}
        self._tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.assign(self._tps)
        await self.consumer.seek_to_beginning(*self._tps)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def catch_up(self) -> None:
        """Read every record committed so far."""
        ends = await self.consumer.end_offsets(self._tps)
        pending = {tp for tp in self._tps if await self.consumer.position(tp) < ends[tp]}
        while pending:
            batches = await self.consumer.getmany(*pending, timeout_ms=500, max_records=50_000)
            for batch in batches.values():
                for record in batch:
                    if record.value is None:
                        self.sizes.pop(record.key, None)
                    else:
                        self.sizes[record.key] = len(record.key) + len(record.value)
            pending = {tp for tp in pending if await self.consumer.position(tp) < ends[tp]}

    def by_kind(self) -> dict[str, int]:
        kinds: Counter[str] = Counter()
        for key, size in self.sizes.items():
            kinds[CELL_KINDS.get(key.split(b"|", 1)[0].decode(), "other")] += size
        return dict(kinds)


def held(metrics_url: str) -> dict[str, float]:
    """The worker's campaign_kpi_*_held gauges, summed over its partitions."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    totals = dict.fromkeys(HELD, 0.0)
    for line in text.splitlines():
        for kind in HELD:
            if line.startswith(f"campaign_kpi_{kind}_held{{"):
                totals[kind] += float(line.rsplit(" ", 1)[1])
    return totals


def daily_conversions(workload: Workload, day_start_us: int, day: int) -> list[Record]:
    """One conversion per campaign an hour into the day (see the module docstring)."""
    out = []
    at_us = day_start_us + 3600 * 1_000_000
    for campaign in workload.campaigns:
        conversion_id = f"day{day}-{campaign.cid}"
        event = build.conversion(
            conversion_id, at_us, campaign.cid, conversion_id=conversion_id, action="signup",
        )
        out.append(build.record(event, at_us // 1000 + 500))
    return out


def describe(day: Day) -> str:
    kinds = ", ".join(f"{kind} {size / MIB:.2f}" for kind, size in sorted(day.by_kind.items()))
    h = day.held
    return (
        f"day {day.day:3d}  events {day.events:>10,}  RSS {day.rss_bytes / MIB:7.1f} MiB  "
        f"state {day.state_bytes / MIB:7.2f} MiB ({kinds})  held: {h['campaigns']:.0f} "
        f"campaigns, {h['kpi_sets']:,.0f} KPI sets, {h['open_windows']:,.0f} open windows, "
        f"{h['window_blocks']:,.0f} blocks"
    )


def verdict(days: list[Day], flat_ratio: float) -> str:
    """Growth per day over the last week against the first week's."""
    if len(days) < 2 * WEEK:
        return (f"verdict: {len(days)} days are too few to compare the last week with the "
                f"first (needs {2 * WEEK})")
    parts = []
    flat = True
    for name, values in (("RSS", [d.rss_bytes for d in days]),
                         ("state", [d.state_bytes for d in days])):
        first = (values[WEEK - 1] - values[0]) / (WEEK - 1)
        last = (values[-1] - values[-WEEK]) / (WEEK - 1)
        ratio = last / first if first > 0 else float("inf") if last > 0 else 0.0
        flat = flat and ratio <= flat_ratio
        parts.append(f"{name} {first / MIB:+.2f} MiB/day in week 1, {last / MIB:+.2f} in the "
                     f"last week (x{ratio:.2f})")
    # Which cells grow: what the contract keeps for ever grows with its events (docs/capacity.md).
    kinds = sorted({kind for d in days for kind in d.by_kind})
    last_week = {
        kind: (days[-1].by_kind.get(kind, 0) - days[-WEEK].by_kind.get(kind, 0)) / (WEEK - 1)
        for kind in kinds
    }
    growth = ", ".join(f"{kind} {per_day / MIB:+.3f}" for kind, per_day in last_week.items())
    word = "flat" if flat else "still growing"
    return (f"verdict: {word} (last week's growth <= {flat_ratio:.2f} x week 1's): "
            + "; ".join(parts) + f"; state in the last week, MiB/day: {growth}")


async def run(args: argparse.Namespace) -> int:
    run_id = f"state{int(time.time()) % 1_000_000:06d}"
    prefix = f"{run_id}-"
    run_dir = ROOT / ".local" / "bench" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    topics = [prefix + t for t in Topic]
    say(f"state bench {run_id}: {args.events:,} events of {args.campaigns} campaigns over "
        f"{args.days} days of event time; logs in {run_dir.relative_to(ROOT)}")
    # Input stamped weeks ago must stay until the worker has read it.
    await create_topics(args.bootstrap, topics, PARTITIONS, {"retention.ms": "-1"})
    workload = Workload(prefix.rstrip("-"), campaigns=args.campaigns, seed=args.seed)
    end_s = time.time() - 120
    start_us = int((end_s - args.days * DAY_S) * 1_000_000)
    worker = start_worker(args, prefix, run_dir)
    state_topic = Settings.from_env(worker.env).state_topic_name
    producer = BatchProducer(args.bootstrap, lambda t: prefix + t, PARTITIONS)
    offsets = GroupOffsets(args.bootstrap, f"{prefix}worker", topics, PARTITIONS)
    live = LiveState(args.bootstrap, state_topic)
    await producer.start()
    await offsets.start()
    days: list[Day] = []
    try:
        stream = workload.records(args.events, end_s, args.days * DAY_S)
        pending: list[Record] = []
        for day in range(1, args.days + 1):
            day_end_ms = (start_us // 1000) + day * DAY_S * 1000
            day_start_us = start_us + (day - 1) * DAY_S * 1_000_000
            for record in [*pending, *daily_conversions(workload, day_start_us, day)]:
                await producer.add(record)
            pending = []
            for record in stream:
                if record.timestamp_ms >= day_end_ms and day < args.days:
                    pending.append(record)
                    break
                await producer.add(record)
            await producer.flush()
            total = await end_offsets(args.bootstrap, topics, PARTITIONS)
            await wait_committed(offsets, total, worker, args.timeout)
            if not days:
                await live.start()
            await live.catch_up()
            by_kind = live.by_kind()
            days.append(Day(day, producer.sent, rss(_worker_pid(worker)), sum(by_kind.values()),
                            by_kind, held(worker.metrics_url)))
            say(describe(days[-1]))
    finally:
        with contextlib.suppress(Exception):
            await live.stop()
        await offsets.stop()
        await producer.stop()
        stop_process(worker.process, 60.0)
        if not args.keep:
            await cleanup(args, prefix, workload)
            shutil.rmtree(run_dir / "worker-data", ignore_errors=True)
    say(verdict(days, args.flat_ratio))
    return 0


async def wait_committed(
    offsets: GroupOffsets, total: int, worker: WorkerRun, timeout_s: float
) -> None:
    """Until the worker's group committed every input record (its state cells are in)."""
    deadline = time.monotonic() + timeout_s
    while await offsets.committed() < total:
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker exited (status {worker.process.returncode}) or fell "
                               f"behind; see {worker.log_path}")
        await asyncio.sleep(0.25)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = services_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=2_000_000, help="input records")
    parser.add_argument("--days", type=int, default=60, help="days of event time")
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flat-ratio", type=float, default=0.1,
                        help="the last week's growth per day, at most this times week 1's")
    parser.add_argument("--timeout", type=float, default=900.0, help="per day, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and keys")
    parser.add_argument(
        "--worker-env", action="append", default=[], metavar="NAME=VALUE",
        help="extra environment for the worker (e.g. KPI_TTL_1H_S=172800)",
    )
    parser.add_argument("--bootstrap", default=env.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--redis", default=env.get("REDIS_URL", "redis://127.0.0.1:16379/0"))
    args = parser.parse_args(argv)
    args.profile = False  # start_worker's option (bench.py --profile)
    return args


def main() -> None:
    sys.exit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
