"""Helpers for integration tests: service addresses, a Kafka admin, produce and consume.

The fixtures in ``conftest.py`` hand these out; tests import the types from here for their
annotations. Every helper is bounded in time, so a broken service fails a test instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_ENV_FILE = REPO_ROOT / ".local" / "services.env"
START_HINT = (
    "run `make services` first (or `make test`, which starts them): it starts Kafka, Redis "
    "and Prometheus on loopback and writes their addresses to .local/services.env"
)
ENV_KEYS = ("KAFKA_BOOTSTRAP", "REDIS_URL", "PROMETHEUS_URL")

# Kafka error codes that CreateTopics / DeleteTopics may answer and that we tolerate.
_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC_OR_PARTITION = 3


class ServiceUnavailableError(Exception):
    """A service address is missing or nothing answers there."""


@dataclass(frozen=True)
class ServiceAddresses:
    """Where the services of `make services` listen."""

    kafka_bootstrap: str
    """Comma-separated ``host:port`` list, as aiokafka's ``bootstrap_servers`` takes it."""
    redis_url: str
    """``redis://host:port/db``."""
    prometheus_url: str
    """``http://host:port``, no trailing slash."""

    @property
    def kafka_hosts(self) -> list[str]:
        """The bootstrap servers one by one."""
        return [h.strip() for h in self.kafka_bootstrap.split(",") if h.strip()]

    @property
    def faust_broker(self) -> list[str]:
        """The bootstrap servers as faust ``broker`` URLs (``kafka://host:port``)."""
        return [f"kafka://{h}" for h in self.kafka_hosts]


def read_env_file(path: Path) -> dict[str, str]:
    """Parse the ``export KEY=VALUE`` lines that scripts/services.sh writes."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("'\"")
    return values


def load_addresses(
    environ: Mapping[str, str] = os.environ, env_file: Path = SERVICES_ENV_FILE
) -> ServiceAddresses:
    """Addresses from the environment, else from .local/services.env.

    Raises:
        ServiceUnavailableError: neither source names all three services.

    """
    values = {k: environ[k] for k in ENV_KEYS if environ.get(k)}
    if len(values) < len(ENV_KEYS) and env_file.is_file():
        from_file = read_env_file(env_file)
        values = {k: values.get(k) or from_file.get(k, "") for k in ENV_KEYS}
    missing = [k for k in ENV_KEYS if not values.get(k)]
    if missing:
        raise ServiceUnavailableError(
            f"no address for {', '.join(missing)} in the environment or {env_file}"
        )
    return ServiceAddresses(
        kafka_bootstrap=values["KAFKA_BOOTSTRAP"],
        redis_url=values["REDIS_URL"],
        prometheus_url=values["PROMETHEUS_URL"].rstrip("/"),
    )


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """``host:port`` or a URL to a (host, port) pair."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    return parts.hostname or "127.0.0.1", parts.port or default_port


def check_reachable(name: str, address: str, default_port: int, timeout_s: float = 3.0) -> None:
    """Open (and close) a TCP connection to the address.

    Raises:
        ServiceUnavailableError: nothing accepts the connection.

    """
    host, port = host_port(address, default_port)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ServiceUnavailableError(f"{name} is not reachable at {host}:{port} ({exc})") from exc


class KafkaAdmin:
    """A small admin for one test: creates topics and deletes them again at teardown.

    ``replication_factor`` follows the cluster: 1 on the single node, 3 on the 3-node cluster.
    """

    def __init__(self, bootstrap: str, *, timeout_s: float = 30.0) -> None:
        """Prepare a client for the bootstrap servers; ``start`` connects it."""
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.replication_factor = 1
        self.broker_count = 1
        self.created: list[str] = []
        self._client: Any = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
        )

    async def start(self) -> None:
        """Connect and learn the cluster size."""
        await asyncio.wait_for(self._client.start(), self.timeout_s)
        cluster = await asyncio.wait_for(self._client.describe_cluster(), self.timeout_s)
        self.broker_count = len(cluster["brokers"])
        self.replication_factor = min(3, self.broker_count)

    async def close(self) -> None:
        """Delete the topics this admin created, then disconnect."""
        try:
            if self.created:
                await self.delete_topics(self.created)
        finally:
            await self._client.close()

    async def create_topics(
        self,
        *names: str,
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create topics (at the cluster's replication factor) and wait until they have leaders.

        Raises:
            RuntimeError: the broker refused a topic for a reason other than "exists".

        """
        topics = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=self.replication_factor,
                topic_configs=dict(config or {}),
            )
            for name in names
        ]
        response = await asyncio.wait_for(
            self._client.create_topics(topics, timeout_ms=int(self.timeout_s * 1000)),
            self.timeout_s,
        )
        for topic_error in response.topic_errors:
            name, code = topic_error[0], topic_error[1]
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"creating topic {name!r} failed: {topic_error}")
        self.created.extend(n for n in names if n not in self.created)
        await self.wait_for_leaders(names, partitions)

    async def wait_for_leaders(self, names: Iterable[str], partitions: int) -> None:
        """Poll metadata until every partition of the topics has a leader.

        Raises:
            TimeoutError: not within ``timeout_s``.

        """
        wanted = set(names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            described = await self._client.describe_topics(sorted(wanted))
            ready = {
                t["topic"]
                for t in described
                if t["error_code"] == 0
                and len(t["partitions"]) >= partitions
                and all(p["leader"] >= 0 for p in t["partitions"])
            }
            if ready >= wanted:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"topics without leaders: {sorted(wanted - ready)}")
            await asyncio.sleep(0.2)

    async def delete_topics(self, names: Sequence[str]) -> None:
        """Delete topics; ones that are already gone are fine."""
        response = await asyncio.wait_for(
            self._client.delete_topics(list(names), timeout_ms=int(self.timeout_s * 1000)),
            self.timeout_s,
        )
        for name, code, *_ in response.topic_error_codes:
            if code not in (0, _UNKNOWN_TOPIC_OR_PARTITION):
                raise RuntimeError(f"deleting topic {name!r} failed with error code {code}")

    async def list_topics(self) -> set[str]:
        """All topic names on the cluster."""
        topics = await asyncio.wait_for(self._client.list_topics(), self.timeout_s)
        return set(topics)


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    *,
    timeout_s: float = 30.0,
) -> None:
    """Send (key, value) records with acks=all and wait until all are acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await asyncio.wait_for(producer.start(), timeout_s)
    try:
        futures = [await producer.send(topic, value=value, key=key) for key, value in records]
        await asyncio.wait_for(asyncio.gather(*futures), timeout_s)
    finally:
        await producer.stop()


async def consume(
    bootstrap: str,
    topic: str,
    count: int,
    *,
    group_id: str | None = None,
    timeout_s: float = 30.0,
) -> list[Any]:
    """Read ``count`` records of a topic from its beginning (``ConsumerRecord`` objects).

    Without ``group_id`` the consumer commits nothing. Raises ``TimeoutError`` naming how
    many records came when fewer than ``count`` arrive within ``timeout_s``.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=group_id is not None,
    )
    await asyncio.wait_for(consumer.start(), timeout_s)
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while len(records) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(records)} of {count} records from {topic!r} within {timeout_s}s"
                )
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def agent_crashes(app: Any) -> list[BaseException]:
    """Exceptions that crashed any actor of the app's agents.

    Faust logs a crashed agent and carries on without it, so a test waiting for output
    would only time out; checking this turns the crash into the test's failure. (Faust has
    no public accessor for an agent's actors, hence the private read.)
    """
    reasons: list[BaseException] = []
    for agent in app.agents.values():
        for actor in list(getattr(agent, "_actors", ())):
            if actor.crashed and actor.crash_reason is not None:
                reasons.append(actor.crash_reason)
    return reasons


async def wait_until(
    predicate: Callable[[], bool],
    what: str,
    *,
    timeout_s: float = 60.0,
    app: Any = None,
    interval_s: float = 0.2,
) -> None:
    """Poll ``predicate`` until it holds.

    Raises:
        TimeoutError: not within ``timeout_s`` (the message says what was awaited).
        RuntimeError: an agent of ``app`` crashed meanwhile (chained to the agent's error).

    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if app is not None and (crashes := agent_crashes(app)):
            raise RuntimeError(f"an agent crashed while waiting for {what}") from crashes[0]
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


@asynccontextmanager
async def running(
    app: Any, *, start_timeout_s: float = 60.0, stop_timeout_s: float = 30.0
) -> AsyncIterator[Any]:
    """Run a faust App in this event loop for the ``async with`` body, then stop it.

    The stop is bounded and happens even when the body fails.
    """
    await asyncio.wait_for(app.start(), start_timeout_s)
    try:
        yield app
    finally:
        await asyncio.wait_for(app.stop(), stop_timeout_s)
