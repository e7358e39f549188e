"""One fault scenario: real workers and servers, faults while input streams in, outputs vs replay.

A scenario runs N `campaign-kpi worker` subprocesses sharing the partitions (configured
through environment variables, as tests/integration/worker_harness.py does), streams the
oracle generator's messy records at a fixed pace, and meanwhile injects faults:

* ``kill``: SIGKILL of a random worker, restarted at once. With ``KPI_TEST_FAULT_DELAYS``
  set, kills are aimed: the injector waits until the chosen worker logs that it is pausing
  at a moment (mid-fetch, mid-flush, between the Kafka commit and the Redis write) and kills
  it there; the worker's log then says whether the kill hit that moment;
* ``freeze``: SIGSTOP of a worker past the session timeout, then SIGCONT (a zombie);
* ``broker``: ``kill -9`` of the node of a 3-node cluster leading the state partition 0 (or
  coordinating its transactions), restarted after a while;
* ``redis_flush`` / ``redis_restart``: FLUSHALL of Redis, or a restart of a Redis without
  persistence, while input streams in and again once everything is idle;
* ``kafka_outage``: every broker stopped longer than the transaction timeout, then back.

Once the input is in and the group committed every input offset, the outputs are compared
with ``campaign-kpi replay`` of the same records: every KPI value on the KPI topic (read
``read_committed``) and in Redis, and the dead letters by reason and source (topic,
partition, offset). The state topic's meta cells are audited for backward jumps.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from streams import codec
from streams.domain.vocabulary import Topic
from streams.topics import ensure_topics

from ..integration.worker_harness import (
    CAMPAIGNS,
    PARTITIONS,
    Harness,
    InputRecord,
    WorkerProcess,
    free_port,
    generated_records,
)
from .servers import KafkaCluster, PrivateRedis, transaction_log_partition
from .state_audit import MetaEntry, format_timeline, read_meta_cells, regressions

# A record's source: (full topic name, partition, offset).
Source = tuple[str, int, int]
# A dead letter's identity: (reason, topic, partition, offset).
DeadLetterId = tuple[str, str, int, int]
MOMENTS = ("fetched", "mid_flush", "committed")
_PAUSE = re.compile(r"fault point (\w+): (pausing|resumed)")


@dataclass(frozen=True)
class ScenarioConfig:
    """What to run; every field has a command-line flag in tests/faults/run.py."""

    name: str
    workers: int = 2
    kills: int = 12  # SIGKILLs of random workers, each restarted at once
    aim_kills: bool = True  # kill at the fault points, in turn (and every 4th at random)
    freezes: int = 0  # SIGSTOPs of random workers, each for freeze_s, then SIGCONT
    freeze_s: float = 20.0
    kafka_nodes: int = 0  # 0: the shared broker; 1 or 3: a private cluster
    broker_kills: int = 0  # kill -9 of the node leading the state partition / coordinator
    broker_down_s: float = 8.0
    redis_faults: tuple[str, ...] = ()  # "flush", "restart" (a private Redis then)
    kafka_outage_s: float = 0.0  # every broker stopped that long, mid-stream
    transaction_timeout_s: float = 60.0
    session_timeout_s: float = 6.0  # the broker's minimum: a killed worker is noticed fast
    size: int = 270_000  # the generator's size: about 0.9 records per unit
    seed: int = 21
    chunks: int = 8  # generator runs, their campaigns renamed apart (to fill every partition)
    rate: float = 1500.0  # records per second while streaming
    first_fault_s: float = 8.0
    fault_gap_s: tuple[float, float] = (7.0, 15.0)
    fault_seed: int = 1
    flush_interval_s: float = 0.3
    batch_max: int = 2000
    stall_s: float = 60.0
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """One injected fault, for the run's timeline."""

    at: float
    action: str  # kill, restart, freeze, thaw, crash, broker_kill, broker_start, ...
    target: str
    streaming: bool
    moment: str = ""  # for kills: the fault point the kill hit ("" = none, at random)


@dataclass
class Comparison:
    """How the outputs compare with the replay."""

    sets_expected: int = 0
    topic_sets_matched: int = 0
    redis_sets_matched: int = 0
    values_compared: int = 0
    topic_values_matched: int = 0
    redis_values_matched: int = 0
    dead_letters_expected: int = 0
    dead_letters_found: int = 0
    dead_letters_missing: list[DeadLetterId] = field(default_factory=list)
    dead_letters_unexpected: list[DeadLetterId] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Whether every value and every dead letter agrees."""
        return (
            self.topic_values_matched == self.values_compared
            and self.redis_values_matched == self.values_compared
            and self.topic_sets_matched == self.sets_expected
            and self.redis_sets_matched == self.sets_expected
            and not self.dead_letters_missing
            and not self.dead_letters_unexpected
        )

    def summary(self) -> str:
        """The per-run figures, a few lines."""
        return (
            f"KPI sets {self.sets_expected}: topic matched {self.topic_sets_matched}, "
            f"Redis matched {self.redis_sets_matched}; KPI values {self.values_compared}: "
            f"topic matched {self.topic_values_matched}, Redis matched "
            f"{self.redis_values_matched}; dead letters expected {self.dead_letters_expected}, "
            f"found {self.dead_letters_found}, missing {len(self.dead_letters_missing)}, "
            f"unexpected {len(self.dead_letters_unexpected)}"
        )


@dataclass
class RunResult:
    """Everything a run measured, written as result.json in the run directory."""

    config: ScenarioConfig
    directory: str
    records: int = 0
    faults: list[Fault] = field(default_factory=list)
    streaming_s: float = 0.0
    comparison: Comparison = field(default_factory=Comparison)
    meta: dict[int, list[MetaEntry]] = field(default_factory=dict)
    meta_regressions: list[str] = field(default_factory=list)
    stalled: dict[str, int] = field(default_factory=dict)
    # Seconds until Redis held the replay's values again, per Redis fault on an idle worker.
    redis_recovery_s: list[float] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        """Faults by kind (kills also by the moment they hit)."""
        counted: Counter[str] = Counter()
        for fault in self.faults:
            counted[fault.action] += 1
            if fault.action == "kill":
                counted[f"kill@{fault.moment or 'random'}"] += 1
        return counted

    def summary(self) -> str:
        """What the run prints."""
        counts = self.counts()
        injected = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines = [
            f"scenario {self.config.name}: {self.config.workers} workers, run directory "
            f"{self.directory}",
            f"records streamed {self.records} in {self.streaming_s:.0f} s; faults: {injected}",
            self.comparison.summary(),
            f"settled: {'yes' if not self.stalled else f'NO, lag {self.stalled}'}; state "
            f"topic: {sum(len(v) for v in self.meta.values())} meta cells, "
            f"{len(self.meta_regressions)} backward jumps",
        ]
        if self.redis_recovery_s:
            lines.append(
                "Redis back to the replay's values after "
                + ", ".join(f"{s:.1f} s" for s in self.redis_recovery_s)
            )
        lines.extend(f"  {example}" for example in self.comparison.examples[:10])
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Input and the replay


def scenario_records(seed: int, size: int, chunks: int) -> list[InputRecord]:
    """The generator's messy records (every kind, invalid ones included), scaled up.

    One generator run holds a handful of campaigns, so its records land on two or three of
    the four partitions: the input is ``chunks`` runs of the generator, each with its
    campaign ids renamed apart (``cmp-`` becomes ``k<i>-cmp-`` in keys and values alike),
    definitions first, the rest interleaved so that every partition gets input all along.
    """
    definitions: list[InputRecord] = []
    streams: list[list[InputRecord]] = []
    for chunk in range(chunks):
        prefix = f"k{chunk}-cmp-".encode()

        def rename(data: bytes | None, prefix: bytes = prefix) -> bytes | None:
            return None if data is None else data.replace(b"cmp-", prefix)

        renamed = [
            InputRecord(r.topic, rename(r.key), rename(r.value) or b"", r.timestamp_ms)
            for r in generated_records(seed + chunk, max(size // chunks, 1000))
        ]
        definitions.extend(r for r in renamed if r.topic == CAMPAIGNS)
        streams.append([r for r in renamed if r.topic != CAMPAIGNS])
    ranked = [
        ((number + 0.5) / len(records), chunk, record)
        for chunk, records in enumerate(streams)
        for number, record in enumerate(records)
    ]
    ranked.sort(key=lambda item: (item[0], item[1]))
    return definitions + [record for _, _, record in ranked]


def write_replay_file(records: Sequence[InputRecord], path: Path) -> None:
    """The records as a replay JSON Lines file; line N is the record of index N - 1."""
    with open(path, "wb") as out:
        for r in records:
            out.write(
                codec.dumps(
                    {
                        "topic": r.topic,
                        "key": None if r.key is None else r.key.decode("utf-8", "surrogatepass"),
                        "value": r.value.decode("utf-8", "surrogatepass"),
                        "timestamp": r.timestamp_ms,
                    }
                )
            )
            out.write(b"\n")


def run_replay(replay_file: Path, out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``campaign-kpi replay`` of the file: KPI values by key, and its dead letters."""
    out, dlq = out_dir / "replay-kpis.json", out_dir / "replay-dlq.jsonl"
    command = [
        str(Path(sys.executable).with_name("campaign-kpi")),
        "replay", str(replay_file), "--out", str(out), "--dlq", str(dlq),
    ]
    subprocess.run(command, check=True, capture_output=True)
    values = {kpi_key(value): value for value in codec.loads(out.read_bytes())}
    letters = [codec.loads(line) for line in dlq.read_bytes().splitlines() if line.strip()]
    return values, letters


def kpi_key(value: dict[str, Any]) -> str:
    """The KPI topic key of a KPI value."""
    start = "all" if value["window_start"] is None else value["window_start"]
    return f"{value['campaign_id']}|{value['scope']}|{value['scope_id']}|{value['window']}|{start}"


def compare(
    expected: dict[str, Any],
    *,
    topic_values: dict[str, Any],
    redis_values: dict[str, Any],
    expected_letters: Iterable[DeadLetterId],
    found_letters: Iterable[DeadLetterId],
) -> Comparison:
    """Count, value by value, how the KPI topic and Redis agree with the replay."""
    result = Comparison(sets_expected=len(expected))
    for key, value in sorted(expected.items()):
        want = value["kpis"]
        got_topic = topic_values.get(key)
        topic_kpis = None if got_topic is None else got_topic.get("kpis")
        redis_kpis = redis_values.get(key)
        result.values_compared += len(want)
        result.topic_sets_matched += topic_kpis == want and _header_equal(value, got_topic)
        result.redis_sets_matched += redis_kpis == want
        for name, wanted in want.items():
            for got, source in ((topic_kpis, "topic"), (redis_kpis, "redis")):
                actual = None if got is None else got.get(name)
                if actual == wanted:
                    if source == "topic":
                        result.topic_values_matched += 1
                    else:
                        result.redis_values_matched += 1
                elif len(result.examples) < 12:
                    result.examples.append(
                        f"{source} {key} {name}: want {wanted!r}, got {actual!r}"
                    )
    expected_counter = Counter(expected_letters)
    found_counter = Counter(found_letters)
    result.dead_letters_expected = sum(expected_counter.values())
    result.dead_letters_found = sum(found_counter.values())
    result.dead_letters_missing = sorted((expected_counter - found_counter).elements())
    result.dead_letters_unexpected = sorted((found_counter - expected_counter).elements())
    return result


def _header_equal(want: dict[str, Any], got: dict[str, Any] | None) -> bool:
    if got is None:
        return False
    return all(got.get(k) == v for k, v in want.items() if k not in ("kpis", "updated_at"))


# --------------------------------------------------------------------------------------------
# The run


class Scenario:
    """Runs one :class:`ScenarioConfig`."""

    def __init__(
        self, config: ScenarioConfig, kafka_bootstrap: str, redis_url: str, directory: Path
    ) -> None:
        """Prepare; :meth:`run` does everything (private servers are started there)."""
        self.config = config
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.cluster = (
            KafkaCluster(directory / "kafka", config.kafka_nodes) if config.kafka_nodes else None
        )
        self.redis = PrivateRedis(directory / "redis") if config.redis_faults else None
        bootstrap = self.cluster.bootstrap if self.cluster else kafka_bootstrap
        url = self.redis.url if self.redis else redis_url
        # On three brokers every topic is replicated, the input topics too (created by the
        # harness's settings before the workers start): a broker killed must not be a
        # partition's only copy, or its restart can take a retried send twice (seen: a
        # record written twice with one producer sequence, across the restart of an RF 1 leader).
        replicated = (
            {"KPI_REPLICATION_FACTOR": "3", "KPI_MIN_INSYNC_REPLICAS": "2"}
            if config.kafka_nodes == 3 else {}
        )
        self.harness = Harness(config.name, bootstrap, url, directory, extra_env=replicated)
        self.rng = random.Random(config.fault_seed)
        self.slots: list[WorkerProcess] = []
        self.incarnations: list[int] = []
        self.faults: list[Fault] = []
        self.streaming = False
        self.restarting: set[int] = set()
        self.sources: dict[int, Source] = {}
        self.paused = asyncio.Event()  # set while the producer must wait (Kafka outage)

    @property
    def env(self) -> dict[str, str]:
        """The workers' environment: the integration harness's, with this scenario's knobs."""
        c = self.config
        env = {
            **self.harness.env,
            "KPI_SESSION_TIMEOUT_S": str(c.session_timeout_s),
            "KPI_FLUSH_INTERVAL_S": str(c.flush_interval_s),
            "KPI_BATCH_MAX": str(c.batch_max),
            "KPI_TRANSACTION_TIMEOUT_S": str(c.transaction_timeout_s),
            # Windows are kept for good: a Redis that lost its data gets every one back.
            "KPI_TTL_1M_S": str(400 * 86_400),
            "KPI_TTL_1H_S": str(400 * 86_400),
            "KPI_TTL_1D_S": str(400 * 86_400),
            **c.extra_env,
        }
        if c.aim_kills and c.kills:
            env["KPI_TEST_FAULT_DELAYS"] = "fetched=0.4/4,mid_flush=0.4/3,committed=0.4/3"
        return env

    def log(self, message: str) -> None:
        """A line of the run's timeline (printed too)."""
        stamp = time.strftime("%H:%M:%S", time.localtime())
        line = f"[{stamp}] {message}"
        print(line, flush=True)
        with open(self.directory / "timeline.log", "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def note(self, action: str, target: str, moment: str = "") -> None:
        """Record a fault."""
        self.faults.append(Fault(time.time(), action, target, self.streaming, moment))
        self.log(f"{action} {target}{f' at {moment}' if moment else ''}; "
                 f"streaming={self.streaming}")

    # -- workers --------------------------------------------------------------------------

    def start_worker(self, slot: int) -> WorkerProcess:
        """Start (or restart) the worker of a slot, with a log of its own per incarnation."""
        while len(self.incarnations) <= slot:
            self.incarnations.append(0)
            self.slots.append(WorkerProcess({}, self.directory / "unused.log"))
        self.incarnations[slot] += 1
        data_dir = self.directory / f"data-{slot}"
        data_dir.mkdir(exist_ok=True)
        env = {**self.env, "KPI_WEB_PORT": str(free_port()), "KPI_DATA_DIR": str(data_dir)}
        worker = WorkerProcess(env, self.directory / f"worker-{slot}.{self.incarnations[slot]}.log")
        worker.start()
        self.slots[slot] = worker
        self.harness.workers.append(worker)
        return worker

    async def supervise(self) -> None:
        """Restart a worker that exited by itself (the workers are crash-only)."""
        while True:
            await asyncio.sleep(0.5)
            for slot, worker in enumerate(self.slots):
                process = worker.process
                if slot in self.restarting or process is None or process.poll() is None:
                    continue
                self.note("crash", f"worker {slot} (status {process.returncode}, "
                                   f"log {worker.log_path.name})")
                self.start_worker(slot)

    async def kill(self, slot: int, moment: str | None) -> None:
        """SIGKILL a worker, then restart it.

        With a ``moment``, the victim is whichever worker first logs a pause there (within a
        few seconds; else the random ``slot``), killed during that pause.
        """
        if moment is not None:
            slot = await self._first_to_pause(moment, timeout_s=10.0, default=slot)
        worker = self.slots[slot]
        self.restarting.add(slot)
        try:
            worker.stop(signal.SIGKILL)
            self.note("kill", f"worker {slot}", self._moment_hit(worker))
            self.start_worker(slot)
        finally:
            self.restarting.discard(slot)

    async def _first_to_pause(self, moment: str, timeout_s: float, default: int) -> int:
        """The slot of the first worker to log a new pause at ``moment``."""
        sizes = [w.log_path.stat().st_size if w.log_path.exists() else 0 for w in self.slots]
        deadline = time.monotonic() + timeout_s
        marker = f"fault point {moment}: pausing".encode()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            for slot, worker in enumerate(self.slots):
                if marker in worker.log_path.read_bytes()[sizes[slot]:]:
                    return slot
        return default

    @staticmethod
    def _moment_hit(worker: WorkerProcess) -> str:
        """The fault point the worker was pausing at when it died ("" when none)."""
        text = worker.log_path.read_text(errors="replace")
        marks = _PAUSE.findall(text)
        if marks and marks[-1][1] == "pausing":
            return str(marks[-1][0])
        return ""

    async def freeze(self, slot: int) -> None:
        """SIGSTOP a worker for ``freeze_s``, then SIGCONT it."""
        process = self.slots[slot].process
        assert process is not None
        self.note("freeze", f"worker {slot}")
        process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(self.config.freeze_s)
        process.send_signal(signal.SIGCONT)
        self.note("thaw", f"worker {slot}")

    # -- servers --------------------------------------------------------------------------

    async def kill_broker(self, number: int) -> None:
        """Kill -9 the node leading state partition 0, or the transaction coordinator."""
        assert self.cluster is not None
        settings = self.harness.settings
        if number % 2 == 0:
            node = await self.cluster.leader(settings.state_topic_name, 0)
            role = "leader of state partition 0"
        else:
            txn = f"{settings.topic_prefix}{settings.app_id}-kpi-0"
            node = await self.cluster.leader(
                "__transaction_state", transaction_log_partition(txn)
            )
            role = f"transaction coordinator of {txn}"
        self.cluster.kill_node(node)
        self.note("broker_kill", f"node {node + 1} ({role})")
        await asyncio.sleep(self.config.broker_down_s)
        await asyncio.to_thread(self.cluster.start_node, node)
        self.note("broker_start", f"node {node + 1}")

    async def redis_fault(self, kind: str) -> None:
        """FLUSHALL, or kill and restart the (persistence-free) Redis."""
        assert self.redis is not None
        if kind == "flush":
            client = aioredis.from_url(self.redis.url)
            await client.flushall()
            await client.aclose()
        else:
            self.redis.kill()
            await asyncio.sleep(1.0)
            self.redis.start()
        self.note(f"redis_{kind}", f"redis :{self.redis.port}")

    async def kafka_outage(self) -> None:
        """Every broker down longer than the transaction timeout, then back."""
        assert self.cluster is not None
        self.paused.set()
        self.cluster.stop()
        self.note("kafka_down", f"{self.cluster.nodes} nodes")
        await asyncio.sleep(self.config.kafka_outage_s)
        await asyncio.to_thread(self.cluster.start)
        self.note("kafka_up", f"{self.cluster.nodes} nodes")
        self.paused.clear()

    async def inject_faults(self) -> None:
        """The planned faults, at random moments while input streams in."""
        c = self.config
        await asyncio.sleep(c.first_fault_s)
        plan: list[tuple[str, Any]] = [("kill", n) for n in range(c.kills)]
        plan += [("freeze", n) for n in range(c.freezes)]
        plan += [("broker", n) for n in range(c.broker_kills)]
        plan += [("redis", kind) for kind in c.redis_faults]
        if c.kafka_outage_s:
            plan.append(("outage", 0))
        for number, (action, arg) in enumerate(plan):
            if number:
                await asyncio.sleep(self.rng.uniform(*c.fault_gap_s))
            if not self.streaming:
                self.log(f"input in: {len(plan) - number} faults not injected")
                return
            if action == "kill":
                moment = None
                if c.aim_kills and arg % 4 != 3:
                    moment = MOMENTS[arg % 4 % len(MOMENTS)]
                await self.kill(self.rng.randrange(c.workers), moment)
            elif action == "freeze":
                await self.freeze(self.rng.randrange(c.workers))
            elif action == "broker":
                await self.kill_broker(arg)
            elif action == "redis":
                await self.redis_fault(arg)
            else:
                await self.kafka_outage()

    # -- input ----------------------------------------------------------------------------

    async def produce(self, records: Sequence[InputRecord], first_index: int, rate: float) -> None:
        """Send records at ``rate`` per second (0: at once), waiting out a Kafka outage."""
        settings = self.harness.settings
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending: list[tuple[int, asyncio.Future[Any]]] = []
        producer = AIOKafkaProducer(
            # Idempotent: a send retried while a broker dies must not write the record twice
            # (the replay, which is the reference, has it once).
            bootstrap_servers=self.harness.kafka_bootstrap, acks="all", enable_idempotence=True,
            max_request_size=4 << 20, linger_ms=5, request_timeout_ms=120_000,
        )
        await producer.start()
        try:
            for number, r in enumerate(records):
                while self.paused.is_set():
                    await asyncio.sleep(0.2)
                    started = loop.time() - number / rate if rate else started
                future = await producer.send(
                    settings.topic(r.topic), r.value, key=r.key, timestamp_ms=r.timestamp_ms
                )
                pending.append((first_index + number, future))
                if rate and number % 50 == 49:
                    ahead = started + (number + 1) / rate - loop.time()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            for index, future in pending:
                metadata = await future
                self.sources[index] = (metadata.topic, metadata.partition, metadata.offset)
        finally:
            await producer.stop()

    async def settle(self) -> dict[str, int]:
        """Wait until the group committed every input offset, or made no progress for long."""
        loop = asyncio.get_running_loop()
        last, since = -1, loop.time()
        while True:
            try:
                lags = await self.lags()
            except Exception:
                await asyncio.sleep(1.0)
                continue
            remaining = sum(lags.values())
            if remaining == 0:
                return {}
            if remaining != last:
                last, since = remaining, loop.time()
            elif loop.time() - since > self.config.stall_s:
                self.log(f"stalled: {remaining} records never committed by the group: {lags}")
                return lags
            await asyncio.sleep(1.0)

    async def lags(self) -> dict[str, int]:
        """Input partition -> records after the group's committed offset."""
        settings = self.harness.settings
        admin = AIOKafkaAdminClient(bootstrap_servers=self.harness.kafka_bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.harness.kafka_bootstrap)
        await admin.start()
        await consumer.start()
        try:
            partitions = [
                TopicPartition(settings.topic(logical), p)
                for logical in Topic
                for p in range(PARTITIONS)
            ]
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(settings.app_id)
            lags = {}
            for tp in partitions:
                done = committed[tp].offset if tp in committed else 0
                if ends[tp] > max(done, 0):
                    lags[f"{tp.topic}/{tp.partition}"] = ends[tp] - max(done, 0)
            return lags
        finally:
            await consumer.stop()
            await admin.close()

    async def stop_all(self) -> None:
        """SIGTERM every worker, then the private servers."""
        running = [w for w in self.slots if w.process is not None and w.process.poll() is None]
        for worker in running:
            assert worker.process is not None
            worker.process.send_signal(signal.SIGCONT)
            worker.process.send_signal(signal.SIGTERM)
        for worker in running:
            await asyncio.to_thread(worker.stop, signal.SIGTERM, 60.0)
        if self.cluster is not None:
            self.cluster.stop()
        if self.redis is not None:
            self.redis.kill()

    async def outputs(
        self, expected: dict[str, Any], expected_letters: list[DeadLetterId]
    ) -> Comparison:
        """Read the KPI topic, Redis and the dead-letter topic, and compare."""
        found = [
            (d["reason"], d["topic"], int(d["partition"]), int(d["offset"]))
            for d in await self.harness.dead_letters()
        ]
        return compare(
            expected,
            topic_values=await self.harness.kpi_topic_values(),
            redis_values=await self.harness.redis_values(expected),
            expected_letters=expected_letters,
            found_letters=found,
        )

    async def redis_recovers(self, expected: dict[str, Any], timeout_s: float = 60.0) -> float:
        """Seconds until Redis holds the replay's values again (inf: not within the timeout)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            stored = await self.harness.redis_values(expected)
            if all(stored.get(k) == v["kpis"] for k, v in expected.items()):
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        return float("inf")

    async def run(self) -> RunResult:
        """Servers, topics, workers, streaming with faults, settle, compare, audit."""
        c = self.config
        result = RunResult(c, str(self.directory))
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.start)
        if self.redis is not None:
            self.redis.start()
        await ensure_topics(self.harness.settings)
        records = scenario_records(c.seed, c.size, c.chunks)
        result.records = len(records)
        replay_file = self.directory / "records.jsonl"
        write_replay_file(records, replay_file)
        expected, replay_letters = await asyncio.to_thread(run_replay, replay_file, self.directory)
        self.log(f"{len(records)} records; {len(expected)} KPI sets expected")
        for slot in range(c.workers):
            self.start_worker(slot)
        definitions = [r for r in records if r.topic == CAMPAIGNS]
        events = [r for r in records if r.topic != CAMPAIGNS]
        supervisor = asyncio.create_task(self.supervise())
        await self.produce(definitions, 0, rate=0)
        await self.settle()

        self.streaming = True
        started = time.monotonic()
        faults = asyncio.create_task(self.inject_faults())
        try:
            await self.produce(events, len(definitions), rate=c.rate)
        finally:
            self.streaming = False
        result.streaming_s = time.monotonic() - started
        await faults
        result.stalled = await self.settle()
        await asyncio.sleep(3 * c.flush_interval_s + 2)

        expected_letters = [
            (str(letter["reason"]), *self.sources[int(letter["offset"]) - 1])
            for letter in replay_letters
        ]
        if self.redis is not None:
            # Once more with the workers idle: Redis loses its data, nothing new comes in.
            for kind in c.redis_faults:
                await self.redis_fault(kind)
                result.redis_recovery_s.append(await self.redis_recovers(expected))
        supervisor.cancel()
        result.faults = self.faults
        result.comparison = await self.outputs(expected, expected_letters)
        result.meta = await read_meta_cells(
            self.harness.kafka_bootstrap, self.harness.settings.state_topic_name, PARTITIONS
        )
        result.meta_regressions = regressions(result.meta)
        await self.stop_all()
        self._write(result)
        return result

    def _write(self, result: RunResult) -> None:
        (self.directory / "result.json").write_text(
            json.dumps(asdict(result), indent=1, default=str)
        )
        (self.directory / "summary.txt").write_text(result.summary() + "\n")
        (self.directory / "meta-timeline.txt").write_text(format_timeline(result.meta) + "\n")
