"""Drive real `campaign-kpi worker` processes and compare their outputs with the batch replay.

The worker runs as a subprocess (as a user runs it), so tests can stop it with SIGTERM or
kill it with SIGKILL mid-stream. Inputs come from the oracle's generator of messy records.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams import codec, replay
from streams.config import Settings
from streams.connections import kafka_options, redis_client
from streams.domain.vocabulary import Topic
from streams.kpi_view import StoredKpis, stored_from_fields
from streams.sinks.redis import key_for

from ..oracle.generate import generate

CAMPAIGNS = "campaigns"
REPO_ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4
NOW_MS = int(time.time() * 1000)


@dataclass(frozen=True)
class InputRecord:
    """One record to produce, in the order the replay file lists it."""

    topic: str  # logical topic (default name)
    key: bytes | None
    value: bytes
    timestamp_ms: int
    # The generator left the schema check to the reader (the naive oracle is told, as it
    # implements no JSON Schema).
    schema_invalid: bool = False


@dataclass
class Produced:
    """Where each produced record landed."""

    positions: dict[tuple[str, int, int], bytes] = field(default_factory=dict)


def generated_records(seed: int, size: int) -> list[InputRecord]:
    """The generator's records, campaign definitions first, each with a record timestamp.

    Definitions go first because an order's classification depends on the definition in
    force, and across topics streaming does not preserve file order (contract section 3).
    A line without a timestamp gets a fixed one, written into the replay file too, so the
    future-timestamp rule sees the same input in both.
    """
    settings = Settings()
    records = []
    generated = generate(seed, size)
    for number, line in enumerate(generated.lines, start=1):
        try:
            parsed = replay.parse_line(number, line.encode("utf-8", "surrogatepass"), settings)
        except replay.BadLine:
            continue
        timestamp = NOW_MS if parsed.timestamp_ms is None else parsed.timestamp_ms
        records.append(InputRecord(parsed.topic, parsed.key, parsed.value, timestamp,
                                   number in generated.schema_invalid))
    return [r for r in records if r.topic == CAMPAIGNS] + [
        r for r in records if r.topic != CAMPAIGNS
    ]


def replay_lines(records: Sequence[InputRecord]) -> list[bytes]:
    """The records as replay file lines (envelopes with their timestamps), in order."""
    return [
        codec.dumps(
            {
                "topic": r.topic,
                "key": None if r.key is None else r.key.decode(),
                "value": r.value.decode("utf-8", "surrogatepass"),
                "timestamp": r.timestamp_ms,
            }
        )
        for r in records
    ]


def replay_expected(records: Sequence[InputRecord]) -> tuple[dict[str, Any], Counter[str]]:
    """KPI values by key and dead-letter reasons, from the batch replay of the same records."""
    settings = Settings()
    result = replay.run(enumerate(replay_lines(records), start=1), settings)
    values = {_key(value): value for value in result.results()}
    return values, Counter(result.summary.rejected)


def _key(value: dict[str, Any]) -> str:
    start = "all" if value["window_start"] is None else value["window_start"]
    return (
        f"{value['campaign_id']}|{value['scope']}|{value['scope_id']}|{value['window']}|{start}"
    )


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WorkerProcess:
    """One `campaign-kpi worker` subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        """Prepare; :meth:`start` launches."""
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the worker, logging to the log file."""
        # The module of this checkout (cwd), whatever the console script was installed from.
        command = [sys.executable, "-m", "streams.cli", "worker"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send a signal and wait for the exit; SIGKILL when it does not exit in time."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the worker's log, for failure messages."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def log(self) -> str:
        """The whole log so far."""
        return self.log_path.read_text(errors="replace")

    async def wait_logged(self, text: str, timeout_s: float = 60.0) -> None:
        """Wait until a line the worker logs from now on contains ``text``."""
        seen = self.log().count(text)
        deadline = time.monotonic() + timeout_s
        while self.log().count(text) == seen:
            assert time.monotonic() < deadline, f"{text!r} not logged\n{self.log_tail()}"
            await asyncio.sleep(0.05)

    def scrape(self) -> str:
        """The worker's /metrics page (the Prometheus text format)."""
        url = f"http://127.0.0.1:{self.env['KPI_WEB_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body: bytes = response.read()
            return body.decode()

    def sample(self, name: str, **labels: str) -> float | None:
        """The value of one series on /metrics (None: /metrics not up yet, or no such series)."""
        try:
            text = self.scrape()
        except OSError:
            return None
        return next(
            (
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == name and labels.items() <= sample.labels.items()
            ),
            None,
        )

    def partitions_owned(self) -> int | None:
        """The worker's ``campaign_kpi_partitions_owned`` gauge (None: /metrics not up yet)."""
        owned = self.sample("campaign_kpi_partitions_owned")
        return None if owned is None else int(owned)


@dataclass
class Harness:
    """Topics, Redis database and workers of one test."""

    name: str
    kafka_bootstrap: str
    redis_url: str
    tmp_path: Path
    workers: list[WorkerProcess] = field(default_factory=list)
    # More settings for the workers and the harness's own clients (security, say).
    extra_env: dict[str, str] = field(default_factory=dict)
    started: int = 0  # workers started so far (each gets a log and a data directory)

    @property
    def env(self) -> dict[str, str]:
        """The workers' environment: every name unique to this test."""
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "REDIS_URL": self.redis_url,
            "KPI_APP_ID": self.name,
            "KPI_TOPIC_PREFIX": f"{self.name}-",
            "KPI_PARTITIONS": str(PARTITIONS),
            "KPI_FLUSH_INTERVAL_S": "0.3",
            "KPI_BATCH_MAX": "2000",
            "KPI_SESSION_TIMEOUT_S": "6",  # the broker's minimum: a killed worker is noticed fast
            **self.extra_env,
        }

    @property
    def settings(self) -> Settings:
        """The settings the workers read."""
        return Settings.from_env(self.env)

    def start_worker(self, **extra_env: str) -> WorkerProcess:
        """Start one more worker (a second one shares the partitions)."""
        number = self.started
        self.started += 1
        data_dir = self.tmp_path / f"worker-{number}-data"
        data_dir.mkdir(exist_ok=True)
        env = {
            **self.env, "KPI_WEB_PORT": str(free_port()), "KPI_DATA_DIR": str(data_dir),
            **extra_env,
        }
        worker = WorkerProcess(env, self.tmp_path / f"worker-{number}.log")
        worker.start()
        self.workers.append(worker)
        return worker

    @property
    def topic_names(self) -> list[str]:
        """Every topic the workers of this harness use or create."""
        settings = self.settings
        return [
            *settings.logical_topics(),
            settings.state_topic_name,
            settings.kpi_topic_name,
            settings.dlq_topic_name,
            settings.alerts_topic_name,
            settings.control_topic_name,
            f"{settings.app_id}-__assignor-__leader",
        ]

    def stop_all(self) -> None:
        """Stop every worker still running."""
        for worker in self.workers:
            worker.stop()

    async def produce(
        self, records: Sequence[InputRecord], produced: Produced, pace_s: float = 0.0
    ) -> None:
        """Send records in order (per topic and key, order is preserved).

        With ``pace_s``, pause that long after every 100 records: a slow producer, so that
        a test can act on the worker while input is still arriving.
        """
        settings = self.settings
        producer = AIOKafkaProducer(
            **kafka_options(settings), acks="all", enable_idempotence=True,
            max_request_size=4 << 20,
        )
        await producer.start()
        try:
            futures = []
            for number, r in enumerate(records, start=1):
                topic = settings.topic(r.topic)
                future = await producer.send(
                    topic, r.value, key=r.key, timestamp_ms=r.timestamp_ms
                )
                futures.append((topic, r.value, future))
                if pace_s and number % 100 == 0:
                    await producer.flush()
                    await asyncio.sleep(pace_s)
            for topic, value, future in futures:
                metadata = await future
                produced.positions[topic, metadata.partition, metadata.offset] = value
        finally:
            await producer.stop()

    async def processed(self) -> tuple[int, int]:
        """(records committed by the consumer group, records in the input topics)."""
        settings = self.settings
        admin = AIOKafkaAdminClient(**kafka_options(settings))
        consumer = AIOKafkaConsumer(**kafka_options(settings))
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
            done = sum(
                committed[tp].offset for tp in partitions if tp in committed
            )
            return done, sum(ends.values())
        finally:
            await consumer.stop()
            await admin.close()

    async def wait_processed(self, timeout_s: float = 120.0, at_least: float = 1.0) -> None:
        """Wait until the group committed ``at_least`` of all input records."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        done, total = 0, 1
        while loop.time() < deadline:
            for worker in self.workers:
                process = worker.process
                if (
                    process is not None
                    and process.poll() is not None
                    and process.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL)
                ):
                    raise AssertionError(f"worker exited:\n{worker.log_tail()}")
            try:
                done, total = await self.processed()
            except KafkaError:  # e.g. no group coordinator yet on a fresh broker
                await asyncio.sleep(0.5)
                continue
            if total and done >= at_least * total:
                return
            await asyncio.sleep(0.3)
        tails = "\n---\n".join(w.log_tail() for w in self.workers)
        raise AssertionError(f"processed {done} of {total} records in {timeout_s}s\n{tails}")

    async def read_topic(self, topic: str) -> list[Any]:
        """Every committed record of a topic."""
        consumer = AIOKafkaConsumer(
            **kafka_options(self.settings),
            isolation_level="read_committed",
            enable_auto_commit=False,
        )
        await consumer.start()
        records: list[Any] = []
        try:
            partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            pending = set(partitions)
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500)
                for batch_records in batch.values():
                    records.extend(batch_records)
                pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        finally:
            await consumer.stop()
        return records

    async def kpi_topic_values(self) -> dict[str, Any]:
        """The last KPI topic value of each key (checking each is in its key's partition)."""
        values = {}
        partitions = list(range(PARTITIONS))
        for record in await self.read_topic(self.settings.kpi_topic_name):
            assert record.partition == DefaultPartitioner()(record.key, partitions, partitions)
            values[record.key.decode()] = codec.loads(record.value)
        return values

    async def dead_letters(self) -> list[dict[str, Any]]:
        """Every committed dead-letter record."""
        return [codec.loads(r.value) for r in await self.read_topic(self.settings.dlq_topic_name)]

    async def redis_values(self, expected: dict[str, Any]) -> dict[str, Any]:
        """For each expected KPI set, the KPIs Redis holds (None when the key is missing)."""
        stored = await self.redis_sets(expected)
        return {key: None if s is None else s.kpis for key, s in stored.items()}

    async def redis_sets(self, expected: dict[str, Any]) -> dict[str, StoredKpis | None]:
        """For each expected KPI set, the hash Redis holds, typed (None when it is missing).

        Read in pipelined batches: a check of tens of thousands of sets takes a second, so
        the time Redis takes to come back can be measured.
        """
        client = redis_client(self.settings)
        found: dict[str, StoredKpis | None] = {}
        try:
            items = list(expected.items())
            for start in range(0, len(items), 2000):
                batch = items[start : start + 2000]
                pipe = client.pipeline(transaction=False)
                for _, value in batch:
                    pipe.hgetall(key_for(value["campaign_id"], value["scope"], value["scope_id"],
                                         value["window"], value["window_start"]))
                for (key, value), fields in zip(batch, await pipe.execute(), strict=True):
                    found[key] = None if not fields else stored_from_fields(
                        key, fields, campaign_id=value["campaign_id"], scope=value["scope"],
                        scope_id=value["scope_id"], window=value["window"],
                    )
            return found
        finally:
            await client.aclose()

    async def wait_redis_holds(
        self, expected: dict[str, Any], after: str, timeout_s: float = 30.0
    ) -> None:
        """Wait until Redis holds the KPIs of these KPI values (``after``: what happened)."""
        expected_kpis = {key: value["kpis"] for key, value in expected.items()}
        deadline = time.monotonic() + timeout_s
        while True:
            found = differences(expected_kpis, await self.redis_values(expected))
            if not found:
                return
            assert time.monotonic() < deadline, f"after {after}: {found}"
            await asyncio.sleep(0.5)


def differences(expected: dict[str, Any], actual: dict[str, Any], limit: int = 5) -> list[str]:
    """Readable differences between two KPI-value maps (``updated_at`` ignored)."""
    found = []
    for key in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(key), actual.get(key)
        if isinstance(want, dict) and isinstance(got, dict):
            want = {k: v for k, v in want.items() if k != "updated_at"}
            got = {k: v for k, v in got.items() if k != "updated_at"}
        if want != got:
            found.append(f"{key}: {_field_differences(want, got)}")
            if len(found) >= limit:
                break
    return found


def _field_differences(want: Any, got: Any) -> str:
    if not (isinstance(want, dict) and isinstance(got, dict)):
        return f"expected {want!r}, got {got!r}"
    if "kpis" in want and "kpis" in got:
        header = {k: (want[k], got.get(k)) for k in want if k != "kpis" and want[k] != got.get(k)}
        return f"{header} {_field_differences(want['kpis'], got['kpis'])}"
    fields = sorted(want.keys() | got.keys())
    return str({k: (want.get(k), got.get(k)) for k in fields if want.get(k) != got.get(k)})


async def define_campaigns(harness: Harness, records: list[InputRecord]) -> tuple[
    Produced, list[InputRecord]
]:
    """Produce the campaign definitions and wait until they are processed.

    Producers publish a campaign's definition before its events (contract section 3); across
    topics streaming keeps no order, so the test waits for the definitions to be in force.
    Returns the other records.
    """
    produced = Produced()
    definitions = [r for r in records if r.topic == CAMPAIGNS]
    await harness.produce(definitions, produced)
    await harness.wait_processed()
    return produced, [r for r in records if r.topic != CAMPAIGNS]


async def empty_database(redis_url: str, database: int) -> str:
    """The URL of another database of the same Redis, emptied."""
    database_url = f"{redis_url.rsplit('/', 1)[0]}/{database}"
    client = aioredis.from_url(database_url)
    await client.flushdb()
    await client.aclose()
    return database_url
