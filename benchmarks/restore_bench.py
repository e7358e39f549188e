"""Restore time and memory: a state partition of N live KPI sets, fresh and after rewrites.

``make bench-restore`` (or ``.venv/bin/python benchmarks/restore_bench.py [--sets N]
[--rewrites R]``). It needs the Kafka jars of ``make services`` and starts a broker of its
own (:class:`~tests.integration.private_kafka.PrivateKafka`, broker defaults, data under
``--work-dir``), so gigabytes of state and a busy log cleaner disturb nobody. One run:

1. creates the topics as the worker does (:func:`streams.topics.ensure_topics`, one
   partition: the state topic with its real compaction settings) and writes the state of
   ``--sets`` live KPI sets (default 1,000,000): batches of 20 campaigns of the benchmark
   workload (:mod:`benchmarks.workload`, six hours of events each) are decoded and applied
   to an engine, and each batch is one flush, journaled by :class:`streams.journal.Journal`
   and committed by :class:`streams.kafka_store.KafkaPartitionStore` (one transaction per
   flush, as a worker writes);
2. **fresh**: measures a restore;
3. rewrites every cell a flush rewrites in place ``--rewrites`` times (default 20): every
   KPI set with a new value, the definitions, lateness references, posts, orders, reviews,
   link counts and hourly courses as they are (the event-id chunks are written once per flush
   and never rewritten, so they stay as they are). Meanwhile the cleaner is held off: the
   topic's ``min.compaction.lag.ms`` and ``max.compaction.lag.ms`` are set to a week;
4. **not compacted**: measures a restore right away, before the cleaner ran (what a restore
   reads if history is never compacted);
5. puts the topic's real settings back and waits (``--compaction-timeout``) until the
   broker's cleaner checkpoint reaches the active segment (the one part it never cleans);
6. **compacted**: measures a restore again.

Each measurement is a fresh process (``--measure``) that does what a worker does when it is
given the partition: ``KafkaPartitionStore.open`` (fence, read the partition) and
``Journal.restore`` into an engine; it reports records and bytes read, seconds, peak RSS
(VmHWM) and the RSS once the raw cells are dropped, and checks that the engine holds every
set with its latest value. The last line compares the rewritten restores with the fresh one.
``results.json`` stays in the work directory; the broker's data is deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from benchmarks.kafka_io import peak_rss, rss
from benchmarks.workload import Workload
from streams.cli import GC_THRESHOLDS
from streams.config import Settings
from streams.domain.engine import Changes, Engine
from streams.domain.kpis import SLOT
from streams.domain.vocabulary import Topic
from streams.journal import Journal, Meta
from streams.kafka_store import KafkaPartitionStore
from streams.processing import apply_record
from streams.storage import FlushRecords
from streams.topics import ensure_topics, wanted_topics

ROOT = Path(__file__).resolve().parent.parent
MIB: Final = 1 << 20
PARTITION: Final = 0
CAMPAIGNS_PER_FLUSH: Final = 20
EVENTS_PER_CAMPAIGN: Final = 600  # about 450 live KPI sets per campaign
SPAN_S: Final = 6 * 3600  # the default grace: every window of the span is still open
END_S: Final = 1_772_344_800  # 2026-03-01T06:00:00Z: event time is fixed, runs repeat
_IMPRESSIONS: Final = SLOT["impressions"]
_POLL_S: Final = 2.0
_WEEK_MS: Final = str(7 * 86_400_000)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One restore, in a process of its own."""

    phase: str
    sets: int
    cells: int
    records: int
    bytes_read: int
    open_s: float
    restore_s: float
    peak_rss: int
    rss_after: int
    impressions: int  # the sum over every set: the latest values were read
    log_bytes: int = 0  # the partition's segments on disk
    compaction_s: float | None = None

    @property
    def seconds(self) -> float:
        return self.open_s + self.restore_s


def say(text: str) -> None:
    print(text, flush=True)


# -- the restore, in a fresh process ------------------------------------------------------


async def measure_restore() -> dict[str, Any]:
    """Open partition 0 as a worker does and restore it; what it cost."""
    settings = Settings.from_env()
    store = KafkaPartitionStore(settings, PARTITION)
    started = time.perf_counter()
    try:
        raw = await store.open()
        opened = time.perf_counter()
        _, engine, _ = Journal.restore(settings.rules(), raw, PARTITION)
        restored = time.perf_counter()
    finally:
        await store.close()
    read = store.last_read
    assert read is not None
    cells = len(raw)
    del raw  # a worker keeps the engine, not the cells
    gc.collect()
    return {
        "sets": live_sets(engine),
        "cells": cells,
        "records": read.records,
        "bytes_read": read.bytes,
        "open_s": opened - started,
        "restore_s": restored - opened,
        "peak_rss": peak_rss(),
        "rss_after": rss(),
        "impressions": impressions(engine),
    }


def live_sets(engine: Engine) -> int:
    return sum(len(state.sets) for state in engine.campaigns.values())


def impressions(engine: Engine) -> int:
    return sum(
        agg.counts[_IMPRESSIONS]
        for state in engine.campaigns.values()
        for agg in state.sets.values()
    )


# -- writing the state --------------------------------------------------------------------


class StateWriter:
    """Journals an engine's flushes to the state partition, one transaction each."""

    def __init__(self, settings: Settings) -> None:
        self.engine = Engine(settings.rules())
        self.journal = Journal(self.engine.rules)
        self.store = KafkaPartitionStore(settings, PARTITION)
        # A transactional id of its own: the restores (the worker's id) do not fence it.
        self.store.transactional_id += "-bench-writer"
        self.flush_seq = 0
        self.records = 0  # input records applied
        self.written = 0  # state records committed

    async def start(self) -> None:
        await self.store.open()  # the topic is empty: this only starts the producer

    async def stop(self) -> None:
        await self.store.close()

    async def flush(self, changes: Changes) -> None:
        self.flush_seq += 1
        meta = Meta({str(Topic.INTERACTIONS): self.records}, self.flush_seq)
        cells = self.journal.cells(self.engine, changes, self.flush_seq, meta, PARTITION)
        await self.store.commit(FlushRecords(cells))
        self.written += len(cells)

    async def build(self, target_sets: int) -> None:
        """Apply batches of workload campaigns until the engine holds ``target_sets``."""
        engine = self.engine
        done = 0
        batch = 0
        while done < target_sets:
            workload = Workload(f"rb{batch:05d}", campaigns=CAMPAIGNS_PER_FLUSH, seed=batch)
            cids = [campaign.cid for campaign in workload.campaigns]
            for i, record in enumerate(
                workload.records(CAMPAIGNS_PER_FLUSH * EVENTS_PER_CAMPAIGN, END_S, SPAN_S), 1
            ):
                apply_record(engine, Topic(record.topic), record.key, record.value,
                             record.timestamp_ms)
                if i % 10 == 0:
                    held = (engine.campaigns.get(cid) for cid in cids)
                    if done + sum(len(state.sets) for state in held if state) >= target_sets:
                        break
            self.records += i
            done = live_sets(engine)
            await self.flush(engine.take_changes())
            batch += 1

    async def rewrite(self) -> None:
        """Every cell a flush rewrites in place, once: the KPI sets with new values."""
        cids = list(self.engine.campaigns)
        for i in range(0, len(cids), CAMPAIGNS_PER_FLUSH):
            await self.flush(self.rewritten(cids[i : i + CAMPAIGNS_PER_FLUSH]))

    def rewritten(self, cids: list[str]) -> Changes:
        changes = Changes()
        for cid in cids:
            state = self.engine.campaigns[cid]
            for agg in state.sets.values():
                agg.counts[_IMPRESSIONS] += 1
                changes.sets[agg] = state
            changes.definitions.add(cid)
            changes.maxima.add(cid)
            changes.posts.update((cid, post_id) for post_id in state.posts)
            changes.orders.update((cid, order_id) for order_id in state.orders)
            changes.reviews.update((cid, *pair) for pair in state.reviews)
            changes.answers.update((cid, *pair) for pair in state.answers)
            changes.links.update((cid, link_id) for link_id in state.links)
            if state.hourly:
                changes.hourly.add(cid)
        return changes


# -- the broker ---------------------------------------------------------------------------


def state_config(settings: Settings) -> dict[str, str]:
    """The state topic's configuration as the worker creates it."""
    name = settings.state_topic_name
    return next(dict(t.topic_configs) for t in wanted_topics(settings) if t.name == name)


async def set_state_config(settings: Settings, overrides: dict[str, str]) -> None:
    """The state topic's configuration as the worker creates it, with ``overrides``."""
    name = settings.state_topic_name
    config = state_config(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        # AlterConfigs replaces the whole set: every setting is given, not only the changes.
        resource = ConfigResource(ConfigResourceType.TOPIC, name, {**config, **overrides})
        for response in await admin.alter_configs([resource]):
            for error_code, message, *_ in response.resources:
                if error_code:
                    raise RuntimeError(f"altering {name}: error {error_code} {message}")
    finally:
        await admin.close()


def partition_dir(data: Path, settings: Settings) -> Path:
    return data / f"{settings.state_topic_name}-{PARTITION}"


def log_bytes(data: Path, settings: Settings) -> int:
    return sum(p.stat().st_size for p in partition_dir(data, settings).glob("*.log"))


def cleaned_to_active_segment(data: Path, settings: Settings) -> bool:
    """Whether the cleaner's checkpoint reached the active segment (all it can clean)."""
    bases = sorted(int(p.stem) for p in partition_dir(data, settings).glob("*.log"))
    checkpoint = data / "cleaner-offset-checkpoint"
    if not bases or not checkpoint.exists():
        return False
    wanted = f"{settings.state_topic_name} {PARTITION} "
    for line in checkpoint.read_text().splitlines():
        if line.startswith(wanted):
            return int(line.split()[2]) >= bases[-1]
    return False


def wait_for_cleaner(data: Path, settings: Settings, timeout_s: float) -> tuple[bool, float]:
    """Whether the cleaner reached the active segment within the timeout; seconds waited."""
    started = time.monotonic()
    while not (done := cleaned_to_active_segment(data, settings)):
        if time.monotonic() - started > timeout_s:
            break
        time.sleep(_POLL_S)  # nothing else runs meanwhile
    return done, time.monotonic() - started


# -- the run ------------------------------------------------------------------------------


def run_measurement(phase: str, env: dict[str, str], data: Path, settings: Settings,
                    compaction_s: float | None = None) -> Measurement:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.restore_bench", "--measure"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {phase} restore failed:\n{done.stderr[-4000:]}")
    values = json.loads(done.stdout.strip().splitlines()[-1])
    return Measurement(phase, **values, log_bytes=log_bytes(data, settings),
                       compaction_s=compaction_s)


HEADER: Final = (
    f"{'phase':<28}{'live sets':>11}{'records read':>14}{'MB read':>9}{'seconds':>9}"
    f"{'open s':>8}{'peak RSS MiB':>14}{'RSS after MiB':>15}{'log MB':>8}  values"
)


def row(m: Measurement, expected: tuple[int, int]) -> str:
    ok = "latest" if (m.sets, m.impressions) == expected else (
        f"WRONG: {m.sets} sets, impressions {m.impressions} (want {expected})"
    )
    return (
        f"{m.phase:<28}{m.sets:>11,}{m.records:>14,}{m.bytes_read / 1e6:>9,.0f}"
        f"{m.seconds:>9.1f}{m.open_s:>8.1f}{m.peak_rss / MIB:>14,.0f}"
        f"{m.rss_after / MIB:>15,.0f}{m.log_bytes / 1e6:>8,.0f}  {ok}"
    )


def ratios(m: Measurement, fresh: Measurement) -> str:
    return (
        f"records x{m.records / fresh.records:.2f}, seconds x{m.seconds / fresh.seconds:.2f}, "
        f"peak RSS x{m.peak_rss / fresh.peak_rss:.2f}"
    )


async def bench(args: argparse.Namespace, work: Path) -> list[Measurement]:
    from tests.integration.private_kafka import PrivateKafka  # noqa: PLC0415 (the broker)

    (work / "kafka").mkdir(exist_ok=True)
    kafka = PrivateKafka(work / "kafka")
    kafka.start()
    try:
        env = {**os.environ, "KAFKA_BOOTSTRAP": kafka.bootstrap, "KPI_APP_ID": "restore-bench",
               "KPI_PARTITIONS": "1"}
        settings = Settings.from_env(env)  # the restores read the same
        return await phases(args, settings, env, kafka.data)
    finally:
        kafka.stop()
        if not args.keep:
            shutil.rmtree(kafka.data, ignore_errors=True)


async def phases(args: argparse.Namespace, settings: Settings, env: dict[str, str],
                 data: Path) -> list[Measurement]:
    await ensure_topics(settings)
    config = state_config(settings)
    real = {"segment.bytes": str(args.segment_bytes)} if args.segment_bytes else {}
    # Nothing is cleanable before a week: the rewrites stay in the log until released.
    held = {**real, "min.compaction.lag.ms": _WEEK_MS, "max.compaction.lag.ms": _WEEK_MS}
    say("state topic: " + ", ".join(f"{k}={v}" for k, v in {**config, **real}.items()))
    await set_state_config(settings, held)
    writer = StateWriter(settings)
    await writer.start()
    results: list[Measurement] = []
    try:
        started = time.perf_counter()
        await writer.build(args.sets)
        engine = writer.engine
        say(f"wrote {live_sets(engine):,} live KPI sets of {len(engine.campaigns):,} campaigns "
            f"({writer.records:,} events, {writer.flush_seq} flushes) in "
            f"{time.perf_counter() - started:.0f} s; {log_bytes(data, settings) / 1e6:,.0f} MB "
            "on disk")
        say(HEADER)
        fresh = run_measurement("fresh", env, data, settings)
        results.append(fresh)
        say(row(fresh, (live_sets(engine), impressions(engine))))
        segment_bytes = int({**config, **real}["segment.bytes"])
        check_sizes(data, fresh.log_bytes, args.rewrites, segment_bytes)
        started = time.perf_counter()
        for _ in range(args.rewrites):
            await writer.rewrite()
        say(f"rewrote every cell {args.rewrites} times in {time.perf_counter() - started:.0f} s; "
            f"{writer.written:,} state records written in all")
    finally:
        await writer.stop()
    expected = (live_sets(engine), impressions(engine))
    rewritten = run_measurement(f"{args.rewrites} rewrites, not compacted", env, data,
                                settings)
    results.append(rewritten)
    say(row(rewritten, expected))
    await set_state_config(settings, real)
    compacted, waited = wait_for_cleaner(data, settings, args.compaction_timeout)
    phase = f"{args.rewrites} rewrites, compacted" if compacted else (
        f"{args.rewrites} rewrites, NOT compacted in {args.compaction_timeout:.0f} s"
    )
    after = run_measurement(phase, env, data, settings, waited)
    results.append(after)
    say(row(after, expected))
    say(f"compaction: {waited:.0f} s from the real settings back to the cleaner reaching the "
        f"active segment ({rewritten.log_bytes / MIB / waited:,.0f} MiB/s of log); log "
        f"{rewritten.log_bytes / 1e6:,.0f} -> {after.log_bytes / 1e6:,.0f} MB")
    say(f"after {args.rewrites} rewrites vs fresh: not compacted {ratios(rewritten, fresh)}; "
        f"compacted {ratios(after, fresh)}; the writer's peak RSS {peak_rss() / MIB:,.0f} MiB")
    return results


def check_sizes(data: Path, fresh_bytes: int, rewrites: int, segment_bytes: int) -> None:
    """Refuse to rewrite when it would not fit on the disk, or not fill a closed segment."""
    needed = fresh_bytes * rewrites  # a rewrite is a little smaller than the fresh state
    free = shutil.disk_usage(data).free
    if needed > 0.8 * free:
        raise SystemExit(
            f"{rewrites} rewrites need about {needed / 1e9:.1f} GB, {free / 1e9:.1f} GB free: "
            "use fewer --sets or --rewrites"
        )
    if fresh_bytes + needed < 2 * segment_bytes:
        raise SystemExit(
            f"about {(fresh_bytes + needed) / MIB:.0f} MiB of log would stay in one or two "
            f"segments of {segment_bytes / MIB:.0f} MiB, mostly the active one, which the "
            "cleaner never compacts: pass a smaller --segment-bytes (1048576 at least)"
        )


def sizes(text: str) -> int:
    return int(text.replace("_", "").replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description="Restore time and memory, fresh and rewritten.")
    parser.add_argument("--sets", type=sizes, default=1_000_000,
                        help="live KPI sets in the partition (default 1,000,000)")
    parser.add_argument("--rewrites", type=int, default=20,
                        help="times every cell is rewritten (default 20)")
    parser.add_argument("--segment-bytes", type=sizes, default=0,
                        help="segment.bytes of the state topic instead of the worker's (the "
                             "active segment is never compacted: small runs need small ones)")
    parser.add_argument("--compaction-timeout", type=float, default=1800.0,
                        help="seconds to wait for the cleaner (default 1800)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="broker data and results (default .local/bench/restore-<id>)")
    parser.add_argument("--keep", action="store_true", help="keep the broker's data")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    gc.set_threshold(*GC_THRESHOLDS)  # as the worker runs
    if args.measure:
        print(json.dumps(asyncio.run(measure_restore())), flush=True)
        return
    work = args.work_dir or ROOT / ".local" / "bench" / f"restore-{secrets.token_hex(4)}"
    work.mkdir(parents=True, exist_ok=True)
    say(f"restore bench: {args.sets:,} live KPI sets, {args.rewrites} rewrites; work dir {work}")
    results = asyncio.run(bench(args, work))
    (work / "results.json").write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                    "results": [asdict(m) for m in results]}, indent=2)
    )


if __name__ == "__main__":
    main()
