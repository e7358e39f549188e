"""End-to-end benchmark: ceiling, naive Faust, Quix Streams and our worker on the same input.

``make bench`` (or ``.venv/bin/python benchmarks/bench.py [--events N]``), with the services
of ``make services`` running. One run:

1. generates ``--events`` records of the interaction-heavy mix (:mod:`benchmarks.workload`)
   and produces them once to the input topics of its own (``bench<id>-<topic>``);
2. **ceiling**: a plain aiokafka consumer decoding each record with orjson and counting per
   campaign (:mod:`benchmarks.ceiling`), until it has read every record;
3. **naive Faust**: one agent per topic with a per-event Table counter
   (:mod:`benchmarks.naive_faust`), for ``--naive-seconds`` from its first event (it is too
   slow to finish); its rate is the events it processed in that time;
4. **Quix Streams**: the same core job (five KPIs per campaign, 1-minute and 1-hour windows,
   event-id dedup) written with Quix Streams (:mod:`benchmarks.quix_peer`), exactly-once, over
   the three topics it needs, until its group committed all of them; its last value of every
   campaign window is then compared with the worker's Redis hash;
5. **worker**: ``campaign-kpi worker`` (fresh app id) from the start of consumption (first
   scrape of /metrics counting events) until the last flush of the input reached Redis (the
   last ``kpi:updates`` message of the run's campaigns) and the group committed all input;
6. **freshness**: with the worker caught up, background load at 50 % and then 80 % of its
   measured rate (``--freshness-loads``) for ``--freshness-seconds`` each, plus ten probes a
   second: an interaction on a post of its own, timed from the produce call until a
   ``kpi:updates`` message names the post's key;
7. **scale-out**: 2 and 3 worker processes (``--scale-out``) of a fresh consumer group each,
   over the same input from its start, timed from their first applied event until the group
   committed every input record; the single worker's line is phase 5 timed the same way.

Every contender runs in a process of its own: events/s, CPU seconds per million events (from
/proc/<pid>/stat, or getrusage inside the process) and peak RSS (VmHWM) are its own. It prints
one line per phase, a table, the scale-out lines, and
``ratios: worker/ceiling=X worker/naive=Y worker/quix=Q freshness_p99_s=Z freshness_p99_80_s=W``.
Topics and Redis keys of the run are deleted at the end (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import orjson
import redis.asyncio as aioredis

from benchmarks.kafka_io import (
    BatchProducer,
    GroupOffsets,
    ProcSample,
    create_topics,
    delete_topics,
    end_offsets,
    read_committed,
    sample_process,
)
from benchmarks.workload import Workload
from streams.domain.vocabulary import OBJECTIVES, Topic
from streams.sinks.redis import UPDATES_CHANNEL, campaigns_key, key_for, objective_key

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
# Every input topic the worker reads (contract v2: eight); the workload fills six of them.
LOGICAL_TOPICS = tuple(Topic)
MIB = 1 << 20


@dataclass
class Result:
    """One row of the table."""

    name: str
    events: int
    seconds: float
    cpu_s: float
    peak_rss_bytes: int
    note: str = ""
    # Records over the seconds from the first applied event until the group committed all.
    committed_rate: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_million(self) -> float:
        return self.cpu_s / self.events * 1e6 if self.events else 0.0


@dataclass
class Freshness:
    load: float  # the fraction of the worker's measured rate
    rate: float
    seconds: float
    background: int
    latencies_s: list[float] = field(default_factory=list)
    lost: int = 0

    def quantile(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def say(text: str) -> None:
    print(text, flush=True)


def services_env() -> dict[str, str]:
    """KAFKA_BOOTSTRAP / REDIS_URL from the environment, else from .local/services.env."""
    found: dict[str, str] = {}
    path = ROOT / ".local" / "services.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                name, value = line[len("export ") :].split("=", 1)
                found[name] = value
    found.update({k: v for k, v in os.environ.items() if k in ("KAFKA_BOOTSTRAP", "REDIS_URL")})
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


class UpdateListener:
    """Subscribes to ``kpi:updates``; notes the run's last message and the probes' arrivals."""

    def __init__(self, redis_url: str, campaign_prefix: str) -> None:
        self.client = aioredis.from_url(redis_url)
        self.prefix = campaign_prefix
        self.messages = 0
        self.last_at = 0.0
        self.probe_sent: dict[str, float] = {}
        self.probe_seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None

    async def start(self) -> None:
        self._pubsub = self.client.pubsub()
        await self._pubsub.subscribe(UPDATES_CHANNEL)
        self._task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] != "message":
                continue
            now = time.monotonic()
            data = orjson.loads(message["data"])
            if not str(data.get("campaign_id", "")).startswith(self.prefix):
                continue
            self.messages += 1
            self.last_at = now
            for key in data.get("keys", ()):
                if key in self.probe_sent and key not in self.probe_seen:
                    self.probe_seen[key] = now

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self.client.aclose()


# -- phases --------------------------------------------------------------------------------


async def produce_input(args: argparse.Namespace, prefix: str, workload: Workload) -> int:
    topics = [prefix + t for t in Topic]
    await create_topics(args.bootstrap, topics, PARTITIONS)
    producer = BatchProducer(args.bootstrap, lambda t: prefix + t, PARTITIONS)
    await producer.start()
    started = time.monotonic()
    try:
        end_s = time.time() - 120
        for record in workload.records(args.events, end_s, args.span_hours * 3600):
            await producer.add(record)
    finally:
        await producer.stop()
    total = await end_offsets(args.bootstrap, topics, PARTITIONS)
    mix = ", ".join(f"{name} {n:,}" for name, n in workload.counts.most_common())
    say(
        f"produce: {total:,} records in {time.monotonic() - started:.1f} s to "
        f"{prefix}<topic> x{len(LOGICAL_TOPICS)} ({mix})"
    )
    return total


def run_ceiling(args: argparse.Namespace, prefix: str, total: int) -> Result:
    command = [
        sys.executable, "-m", "benchmarks.ceiling", args.bootstrap, str(PARTITIONS), str(total),
        *(prefix + t for t in Topic),
    ]
    done = subprocess.run(
        command, cwd=ROOT, check=True, capture_output=True, timeout=args.timeout
    )
    data = orjson.loads(done.stdout.splitlines()[-1])
    result = Result(
        "ceiling (aiokafka + orjson)",
        data["records"], data["seconds"], data["cpu_s"], data["peak_rss_bytes"],
        "all records",
    )
    say(
        f"ceiling: {result.events:,} records in {result.seconds:.1f} s "
        f"({result.rate:,.0f}/s, {data['campaigns']} campaigns counted)"
    )
    return result


async def run_naive(args: argparse.Namespace, prefix: str, total: int, run_dir: Path) -> Result:
    report = run_dir / "naive-report.jsonl"
    env = {
        **os.environ,
        "NAIVE_BOOTSTRAP": args.bootstrap,
        "NAIVE_TOPIC_PREFIX": prefix,
        "NAIVE_APP_ID": f"{prefix}naive",
        "NAIVE_PARTITIONS": str(PARTITIONS),
        "NAIVE_DATA_DIR": str(run_dir / "naive-data"),
        "NAIVE_REPORT": str(report),
    }
    process = _spawn([sys.executable, "-m", "benchmarks.naive_faust"], env, run_dir / "naive.log")
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if process.poll() is not None:
                raise RuntimeError(f"naive Faust app exited; see {run_dir / 'naive.log'}")
            if not report.exists():
                continue
            lines = report.read_bytes().splitlines()
            if not lines:
                continue
            last = orjson.loads(lines[-1])
            if first is None:
                first = next((orjson.loads(x) for x in lines if orjson.loads(x)["events"]), None)
                continue
            if last["at"] - first["at"] >= args.naive_seconds or last["events"] >= total:
                break
    finally:
        stop_process(process)
    if first is None or last is None or last["events"] <= first["events"]:
        raise RuntimeError(f"naive Faust app processed nothing; see {run_dir / 'naive.log'}")
    events = last["events"] - first["events"]
    seconds = last["at"] - first["at"]
    result = Result(
        "naive Faust (agent/topic, Table)",
        events, seconds, last["cpu_s"] - first["cpu_s"], last["peak_rss_bytes"],
        f"capped: {seconds:.0f} s of {total:,}",
    )
    say(
        f"naive Faust: {last['events']:,} of {total:,} records processed; rate over "
        f"{seconds:.1f} s from its first event: {result.rate:,.0f}/s (capped run)"
    )
    return result


QUIX_TOPICS = ("interactions", "clicks", "orders")


async def run_quix(args: argparse.Namespace, prefix: str, run_dir: Path) -> Result:
    """The Quix Streams peer (:mod:`benchmarks.quix_peer`) over its three input topics.

    The clock starts at its first progress line that counts a record (start-up, topic
    creation and the first rebalance excluded, as for the worker) and stops when its
    consumer group has committed every record of those topics: with exactly-once, the
    commit is the transaction that also holds its outputs and state changelogs.
    """
    topics = [prefix + t for t in QUIX_TOPICS]
    total = await end_offsets(args.bootstrap, topics, PARTITIONS)
    report = run_dir / "quix-report.jsonl"
    group = f"{prefix}quix"
    env = {
        **os.environ,
        "QUIX_BOOTSTRAP": args.bootstrap,
        "QUIX_TOPIC_PREFIX": prefix,
        "QUIX_APP_ID": group,
        "QUIX_STATE_DIR": str(run_dir / "quix-state"),
        "QUIX_GUARANTEE": args.quix_guarantee,
        "QUIX_EMIT": args.quix_emit,
        "QUIX_REPORT": str(report),
    }
    process = _spawn([sys.executable, "-m", "benchmarks.quix_peer"], env, run_dir / "quix.log")
    offsets = GroupOffsets(args.bootstrap, group, topics, PARTITIONS)
    await offsets.start()
    first: dict[str, Any] | None = None
    end: ProcSample | None = None
    end_at = 0.0
    deadline = time.monotonic() + args.timeout
    next_report = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            if process.poll() is not None:
                raise RuntimeError(f"Quix peer exited; see {run_dir / 'quix.log'}")
            if first is None and report.exists():
                lines = [orjson.loads(x) for x in report.read_bytes().splitlines()]
                first = next((x for x in lines if x["events"]), None)
            if first is None:
                continue
            if await offsets.committed() >= total:
                end, end_at = sample_process(process.pid), time.time()
                break
            if time.monotonic() >= next_report:
                lines = report.read_bytes().splitlines()
                say(f"quix: ... {orjson.loads(lines[-1])['events']:,} of {total:,} records")
                next_report = time.monotonic() + 10
    finally:
        await offsets.stop()
        stop_process(process)
    if first is None or end is None:
        raise RuntimeError(f"Quix peer did not finish; see {run_dir / 'quix.log'}")
    seconds = end_at - first["at"]
    result = Result(
        f"Quix Streams ({args.quix_guarantee})",
        total - first["events"], seconds, end.cpu_s - first["cpu_s"], end.peak_rss_bytes,
        f"3 of 6 topics, {args.quix_emit}()",
    )
    say(
        f"quix: {total:,} records of {', '.join(QUIX_TOPICS)} committed {seconds:.1f} s after "
        f"its first ({result.rate:,.0f}/s, {args.quix_guarantee}, windows emitted "
        f"{args.quix_emit}())"
    )
    return result


QUIX_KPIS = ("impressions", "engagements", "clicks_valid", "orders", "revenue_minor")


async def quix_agreement(args: argparse.Namespace, prefix: str) -> tuple[int, int, str]:
    """Compare the Quix peer's last value of each campaign window with the worker's Redis hash.

    Both did the job on the same input, so every window the peer emitted must hold the
    worker's figures: the check that the peer does the same work, not less.
    """
    latest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for key, value in await read_committed(args.bootstrap, f"{prefix}quix-kpis"):
        row = orjson.loads(value)
        cid = (key or b"").decode()
        latest[cid, row["window"], row["start"] // 1000] = row
    client = aioredis.from_url(args.redis, decode_responses=True)
    try:
        pipe = client.pipeline(transaction=False)
        windows = sorted(latest)
        for cid, window, start in windows:
            pipe.hgetall(key_for(cid, "campaign", None, window, start))
        stored: list[dict[str, str]] = await pipe.execute()
    finally:
        await client.aclose()
    differing = []
    for where, fields in zip(windows, stored, strict=True):
        theirs = {kpi: int(latest[where][kpi]) for kpi in QUIX_KPIS}
        ours = {kpi: int(fields.get(kpi, 0)) for kpi in QUIX_KPIS}
        if theirs != ours:
            differing.append(f"{where}: quix {theirs}, worker {ours}")
    agree = len(windows) - len(differing)
    text = f"{agree:,} of {len(windows):,} campaign windows agree"
    for line in differing[:3]:
        text += f"\n  {line}"
    return agree, len(windows), text


async def _events_total(session: aiohttp.ClientSession, url: str) -> float | None:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("campaign_kpi_events_total{")
    )


@dataclass
class WorkerRun:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    metrics_url: str
    log_path: Path


def start_worker(
    args: argparse.Namespace, prefix: str, run_dir: Path, group: str = "worker", number: int = 0
) -> WorkerRun:
    """Worker ``number`` of the consumer group ``<prefix><group>``."""
    port = free_port()
    name = f"{group}-{number}" if number else group
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": args.bootstrap,
        "REDIS_URL": args.redis,
        "KPI_APP_ID": f"{prefix}{group}",
        "KPI_TOPIC_PREFIX": prefix,
        "KPI_PARTITIONS": str(PARTITIONS),
        "KPI_WEB_PORT": str(port),
        "KPI_DATA_DIR": str(run_dir / f"{name}-data"),
    }
    for assignment in args.worker_env:
        variable, value = assignment.split("=", 1)
        env[variable] = value
    log_path = run_dir / f"{name}.log"
    # This checkout's module (the spawn's cwd), whatever the console script was installed from.
    command = [sys.executable, "-m", "streams.cli", "worker"]
    if args.profile:
        command = [
            str(Path(sys.executable).with_name("py-spy")), "record", "--subprocesses",
            "--rate", "100", "--format", "raw",
            "-o", str(run_dir / "worker-profile.txt"), "--", *command,
        ]
    process = _spawn(command, env, log_path)
    return WorkerRun(process, env, f"http://127.0.0.1:{port}/metrics", log_path)


def _worker_pid(run: WorkerRun) -> int:
    """The worker's pid (under py-spy, its child)."""
    pid = run.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        kids = children.read_text().split()
        if kids and "py-spy" in Path(f"/proc/{pid}/cmdline").read_text():
            return int(kids[0])
    return pid


async def run_worker(
    args: argparse.Namespace,
    prefix: str,
    total: int,
    run: WorkerRun,
    listener: UpdateListener,
) -> Result:
    offsets = GroupOffsets(
        args.bootstrap, f"{prefix}worker", [prefix + t for t in Topic], PARTITIONS
    )
    await offsets.start()
    deadline = time.monotonic() + args.timeout
    first: tuple[ProcSample, float] | None = None
    next_report = time.monotonic() + 10
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                if run.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"worker exited (status {run.process.returncode}) or timed out; "
                        f"see {run.log_path}"
                    )
                events = await _events_total(session, run.metrics_url)
                now = time.monotonic()
                if events and first is None:
                    first = (sample_process(_worker_pid(run)), events)
                if events is not None and events >= total:
                    break
                if now >= next_report and events is not None:
                    say(f"worker: ... {events:,.0f} of {total:,} records applied")
                    next_report = now + 10
                # Each scrape costs the worker a /metrics page: often only until it starts
                # (the start is timed by it), then once a second (the end is timed by Redis).
                await asyncio.sleep(0.25 if first is None else 1.0)
        applied_at = time.monotonic()
        committed_at = None
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker did not commit all input; see {run.log_path}")
            if committed_at is None and await offsets.committed() >= total:
                committed_at = time.monotonic()
            if committed_at is not None and time.monotonic() - listener.last_at >= 2.0:
                break
            await asyncio.sleep(0.25)
        end = sample_process(_worker_pid(run))
    finally:
        await offsets.stop()
    assert first is not None
    start, events0 = first
    to_redis = listener.last_at - start.at
    result = Result(
        "worker (campaign-kpi, to Redis)",
        int(total - events0), to_redis, end.cpu_s - start.cpu_s, end.peak_rss_bytes,
        f"commit +{committed_at - listener.last_at:.1f} s",
        (total - events0) / (committed_at - start.at),
    )
    say(
        f"worker: {total:,} records applied ({events0:,.0f} already at the first scrape); "
        f"all in Redis {to_redis:.1f} s after it ({result.rate:,.0f}/s), all applied "
        f"{applied_at - start.at:.1f} s, all committed {committed_at - start.at:.1f} s"
    )
    return result


def probe_campaign_id(prefix: str, load: float) -> str:
    """The campaign of the probes of one freshness phase (its own: the phases' keys differ)."""
    return f"{prefix}probe{100 * load:.0f}"


@dataclass
class ScaleOut:
    """One line of the scale-out: ``workers`` processes of one consumer group."""

    workers: int
    events: int
    seconds: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def run_scale_out(
    args: argparse.Namespace, prefix: str, total: int, run_dir: Path, workers: int
) -> ScaleOut:
    """``workers`` processes of a fresh group over the whole input: the time to commit it all."""
    group = f"scale{workers}"
    runs = [start_worker(args, prefix, run_dir, group, n + 1) for n in range(workers)]
    offsets = GroupOffsets(
        args.bootstrap, f"{prefix}{group}", [prefix + t for t in Topic], PARTITIONS
    )
    await offsets.start()
    deadline = time.monotonic() + args.timeout
    first: tuple[float, float, float] | None = None  # (at, events applied, CPU s)
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                for run in runs:
                    if run.process.poll() is not None:
                        raise RuntimeError(f"a scale-out worker exited; see {run.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{workers} workers did not commit all input in time")
                if first is None:
                    counts = [await _events_total(session, r.metrics_url) for r in runs]
                    events = sum(c or 0.0 for c in counts)
                    if events > 0:
                        cpu = sum(sample_process(r.process.pid).cpu_s for r in runs)
                        first = (time.monotonic(), events, cpu)
                elif await offsets.committed() >= total:
                    break
                await asyncio.sleep(0.25)
        end_at = time.monotonic()
        end_cpu = sum(sample_process(r.process.pid).cpu_s for r in runs)
    finally:
        await offsets.stop()
        for run in runs:
            stop_process(run.process, 60.0)
        for n in range(workers):
            shutil.rmtree(run_dir / f"{group}-{n + 1}-data", ignore_errors=True)
    assert first is not None
    at, events0, cpu0 = first
    line = ScaleOut(workers, int(total - events0), end_at - at, end_cpu - cpu0)
    say(
        f"scale-out: {workers} workers committed {total:,} records "
        f"({events0:,.0f} applied at the first scrape) in {line.seconds:.1f} s "
        f"({line.rate:,.0f}/s, {line.cpu_s / line.events * 1e6:.1f} CPU s/1M ev)"
    )
    return line


async def run_freshness(
    args: argparse.Namespace,
    prefix: str,
    *,
    load: float,
    rate: float,
    workload: Workload,
    run: WorkerRun,
    listener: UpdateListener,
) -> Freshness:
    producer = BatchProducer(args.bootstrap, lambda t: prefix + t, PARTITIONS)
    await producer.start()
    probe_campaign = probe_campaign_id(prefix, load)
    fresh = Freshness(load, rate, args.freshness_seconds, 0)
    listener.probe_sent.clear()
    listener.probe_seen.clear()
    tick_s = 0.02
    started = time.monotonic()
    next_probe = started
    probes = 0
    try:
        while (now := time.monotonic()) - started < args.freshness_seconds:
            if run.process.poll() is not None:
                raise RuntimeError(f"worker exited; see {run.log_path}")
            due = int(rate * (now - started)) - fresh.background
            wall = time.time()
            for _ in range(due):
                await producer.add(workload.live(wall))
            fresh.background += max(due, 0)
            if now >= next_probe:
                post_id = f"{probe_campaign}-p{probes:05d}"
                key = key_for(probe_campaign, "post", post_id, "all", None)
                listener.probe_sent[key] = time.monotonic()
                await producer.add(workload.probe(probe_campaign, post_id, time.time()))
                probes += 1
                next_probe += 0.1
            await producer.flush()
            await asyncio.sleep(max(0.0, tick_s - (time.monotonic() - now)))
    finally:
        await producer.stop()
    for _ in range(75):  # up to 15 s for the last probes
        if len(listener.probe_seen) >= len(listener.probe_sent):
            break
        await asyncio.sleep(0.2)
    unseen = []
    for key, sent in listener.probe_sent.items():
        seen = listener.probe_seen.get(key)
        if seen is None:
            unseen.append(key)
        else:
            fresh.latencies_s.append(seen - sent)
    fresh.lost = len(unseen)
    for key in unseen:  # not announced on kpi:updates: is it in Redis all the same?
        stored = await listener.client.exists(key)
        say(f"freshness: probe {key} never announced; {'but' if stored else 'and not'} in Redis")
    say(
        f"freshness: {fresh.background:,} background records at {rate:,.0f}/s "
        f"({100 * load:.0f} % of the worker's rate) for "
        f"{fresh.seconds:.0f} s, {len(listener.probe_sent)} probes, "
        f"{len(fresh.latencies_s)} seen in Redis: p50 {fresh.quantile(0.5):.2f} s, "
        f"p99 {fresh.quantile(0.99):.2f} s, max {max(fresh.latencies_s, default=0):.2f} s"
    )
    return fresh


async def cleanup(args: argparse.Namespace, prefix: str, workload: Workload) -> None:
    topics = await delete_topics(args.bootstrap, prefix)
    # Quix Streams names its state changelogs changelog__<group>--<topic>--<store>.
    topics += await delete_topics(args.bootstrap, f"changelog__{prefix}")
    client = aioredis.from_url(args.redis)
    try:
        keys = 0
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"kpi:{{{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                keys += await client.delete(*batch)
                batch = []
        if batch:
            keys += await client.delete(*batch)
        campaigns = [c.cid for c in workload.campaigns] + [
            probe_campaign_id(prefix, load) for load in args.freshness_loads
        ]
        for zset in [campaigns_key(), *(objective_key(o) for o in sorted(OBJECTIVES))]:
            await client.zrem(zset, *campaigns)
    finally:
        await client.aclose()
    say(f"cleanup: deleted {len(topics)} topics and {keys:,} Redis keys of the run")


def print_table(
    results: list[Result], freshness: list[Freshness], scale: list[ScaleOut]
) -> None:
    header = (
        f"{'contender':<34}{'events':>11}{'seconds':>9}{'events/s':>11}"
        f"{'CPU s/1M ev':>13}{'peak RSS MiB':>14}  note"
    )
    say("")
    say(header)
    say("-" * len(header))
    for r in results:
        say(
            f"{r.name:<34}{r.events:>11,}{r.seconds:>9.1f}{r.rate:>11,.0f}"
            f"{r.cpu_per_million:>13.1f}{r.peak_rss_bytes / MIB:>14.0f}  {r.note}"
        )
    for fresh in freshness:
        say(
            f"freshness at {fresh.rate:,.0f} ev/s "
            f"({100 * fresh.load:.0f} % of the worker's rate), "
            f"{len(fresh.latencies_s)} probes: p50 {fresh.quantile(0.5):.2f} s, "
            f"p99 {fresh.quantile(0.99):.2f} s (lost {fresh.lost})"
        )
    if scale:
        one = scale[0].rate
        for line in scale:
            say(
                f"scale-out {line.workers} worker{'s' if line.workers > 1 else ' '}: "
                f"{line.rate:>9,.0f} events/s to commit, x{line.rate / one:.2f} of one worker "
                f"({PARTITIONS} partitions per topic, {os.cpu_count()} CPUs)"
            )


async def main_async(args: argparse.Namespace) -> int:
    run_id = f"bench{int(time.time()) % 1_000_000:06d}{secrets.token_hex(2)}"
    prefix = f"{run_id}-"
    run_dir = ROOT / ".local" / "bench" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    say(
        f"bench {run_id}: {args.events:,} events, Kafka {args.bootstrap}, Redis {args.redis}, "
        f"logs in {run_dir.relative_to(ROOT)}"
    )
    if not args.skip_quix and importlib.util.find_spec("quixstreams") is None:
        say("bench: quixstreams is not installed (make setup, or pip install quixstreams==3.28.1);"
            " --skip-quix runs without it")
        return 2
    workload = Workload(prefix.rstrip("-"), campaigns=args.campaigns, seed=args.seed)
    results: dict[str, Result] = {}
    freshness: list[Freshness] = []
    scale: list[ScaleOut] = []
    try:
        total = await produce_input(args, prefix, workload)
        results["ceiling"] = run_ceiling(args, prefix, total)
        if not args.skip_naive:
            results["naive"] = await run_naive(args, prefix, total, run_dir)
        if not args.skip_quix:
            results["quix"] = await run_quix(args, prefix, run_dir)
        listener = UpdateListener(args.redis, prefix)
        await listener.start()
        run = start_worker(args, prefix, run_dir)
        try:
            results["worker"] = await run_worker(args, prefix, total, run, listener)
            if "quix" in results:
                # Before the freshness phase: its live records land in the run's windows.
                agree, compared, text = await quix_agreement(args, prefix)
                say(f"quix vs worker: {text}")
                results["quix"].note += f", {agree:,}/{compared:,} windows = worker's"
            if args.freshness_seconds > 0:
                for load in args.freshness_loads:
                    await asyncio.sleep(5.0)  # caught up again after the phase before
                    freshness.append(await run_freshness(
                        args, prefix, load=load, rate=load * results["worker"].rate,
                        workload=workload, run=run, listener=listener,
                    ))
        finally:
            if args.profile and run.process.poll() is None:
                # py-spy writes its profile when the worker (its child) exits.
                os.kill(_worker_pid(run), signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    run.process.wait(60)
            stop_process(run.process, 60.0)
            await listener.stop()
        single = results["worker"]
        scale.append(ScaleOut(1, single.events, single.events / single.committed_rate,
                              single.cpu_s))
        for workers in args.scale_out:
            scale.append(await run_scale_out(args, prefix, total, run_dir, workers))
    finally:
        if not args.keep:
            await cleanup(args, prefix, workload)
            shutil.rmtree(run_dir / "worker-data", ignore_errors=True)
            shutil.rmtree(run_dir / "naive-data", ignore_errors=True)
            shutil.rmtree(run_dir / "quix-state", ignore_errors=True)
    print_table(list(results.values()), freshness, scale)
    worker = results["worker"].rate
    naive = results["naive"].rate if "naive" in results else float("nan")
    quix = results["quix"].rate if "quix" in results else float("nan")
    p99 = {f.load: f.quantile(0.99) for f in freshness}
    summary = {
        "run_id": run_id,
        "events": args.events,
        "results": {k: {**vars(r), "rate": r.rate} for k, r in results.items()},
        "freshness": [vars(f) for f in freshness],
        "scale_out": [{**vars(line), "rate": line.rate} for line in scale],
    }
    (run_dir / "results.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    say(
        f"ratios: worker/ceiling={worker / results['ceiling'].rate:.3f} "
        f"worker/naive={worker / naive:.2f} worker/quix={worker / quix:.2f} "
        f"freshness_p99_s={p99.get(0.5, float('nan')):.2f} "
        f"freshness_p99_80_s={p99.get(0.8, float('nan')):.2f}"
    )
    return 0


def _fractions(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part)


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = services_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=1_000_000, help="input records")
    parser.add_argument("--campaigns", type=int, default=40)
    parser.add_argument("--span-hours", type=float, default=12.0, help="event-time span")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--naive-seconds", type=float, default=30.0)
    parser.add_argument("--freshness-seconds", type=float, default=25.0, help="0 skips it")
    parser.add_argument(
        "--freshness-loads", type=_fractions, default=(0.5, 0.8), metavar="F,F",
        help="background load of each freshness phase, fractions of the worker's rate",
    )
    parser.add_argument(
        "--scale-out", type=_counts, default=(2, 3), metavar="N,N",
        help="worker processes of each scale-out run ('' skips them)",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-quix", action="store_true")
    parser.add_argument(
        "--quix-guarantee", choices=("exactly-once", "at-least-once"), default="exactly-once",
        help="the Quix Streams peer's processing_guarantee",
    )
    parser.add_argument(
        "--quix-emit", choices=("current", "final"), default="current",
        help="the Quix Streams peer's windows: every update (current) or closed ones (final)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and keys")
    parser.add_argument(
        "--worker-env", action="append", default=[], metavar="NAME=VALUE",
        help="extra environment for the worker (e.g. KPI_BATCH_MAX=5000)",
    )
    parser.add_argument(
        "--profile", action="store_true",
        help="run the worker under py-spy record (pip install py-spy into .venv)",
    )
    parser.add_argument("--bootstrap", default=env.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--redis", default=env.get("REDIS_URL", "redis://127.0.0.1:16379/0"))
    return parser.parse_args(argv)


def main() -> None:
    sys.exit(asyncio.run(main_async(parse_args())))


if __name__ == "__main__":
    main()
