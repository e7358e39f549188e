"""Fixtures for integration tests: the real Kafka, Redis and Prometheus of `make services`.

Addresses come from the environment (``KAFKA_BOOTSTRAP``, ``REDIS_URL``, ``PROMETHEUS_URL``;
`make test` sources .local/services.env) or, failing that, from .local/services.env itself.
A missing or unreachable service FAILS the test that needs it, it never skips: a green run
must mean the tests really ran against the services.

Every test in this folder is marked ``integration`` (select with ``-m integration``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streams.topics import ensure_topics

from .redis_cluster import PrivateRedisCluster
from .support import (
    START_HINT,
    KafkaAdmin,
    ServiceAddresses,
    ServiceUnavailableError,
    check_reachable,
    load_addresses,
)
from .worker_harness import Harness, empty_database

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected under tests/integration with ``integration``."""
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def service_addresses() -> ServiceAddresses:
    """All three addresses; fails the test when they are not configured."""
    try:
        return load_addresses()
    except ServiceUnavailableError as exc:
        pytest.fail(f"{exc}; {START_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_bootstrap(service_addresses: ServiceAddresses) -> str:
    """Comma-separated bootstrap servers; every one of them must accept connections."""
    try:
        for host in service_addresses.kafka_hosts:
            check_reachable("Kafka", host, 9092)
    except ServiceUnavailableError as exc:
        pytest.fail(f"{exc}; {START_HINT}", pytrace=False)
    return service_addresses.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(service_addresses: ServiceAddresses) -> str:
    """``redis://host:port/db`` of a reachable Redis."""
    try:
        check_reachable("Redis", service_addresses.redis_url, 6379)
    except ServiceUnavailableError as exc:
        pytest.fail(f"{exc}; {START_HINT}", pytrace=False)
    return service_addresses.redis_url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedisCluster]:
    """A private 3-master Redis Cluster for the session (started here, stopped at the end)."""
    cluster = PrivateRedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def prometheus_url(service_addresses: ServiceAddresses) -> str:
    """``http://host:port`` of a reachable Prometheus (no trailing slash)."""
    try:
        check_reachable("Prometheus", service_addresses.prometheus_url, 9090)
    except ServiceUnavailableError as exc:
        pytest.fail(f"{exc}; {START_HINT}", pytrace=False)
    return service_addresses.prometheus_url


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test (or earlier run) uses: prefix for its topics, group and app id.

    Kafka topic names allow ``[a-zA-Z0-9._-]``; the test's own name keeps broker-side
    leftovers readable.
    """
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-").lower()[:40]
    return f"it-{slug}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[KafkaAdmin]:
    """A Kafka admin for this test; the topics it creates are deleted at teardown."""
    kafka_admin = KafkaAdmin(kafka_bootstrap)
    try:
        await kafka_admin.start()
    except Exception as exc:  # aiokafka's connection errors are not OSError
        await kafka_admin.close()
        pytest.fail(f"Kafka admin could not connect to {kafka_bootstrap}: {exc!r}; {START_HINT}")
    try:
        yield kafka_admin
    finally:
        await kafka_admin.close()


@pytest.fixture
async def harness(
    kafka_bootstrap: str,
    redis_url: str,
    admin: KafkaAdmin,
    unique_name: str,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    """Own topics (deleted afterwards), an empty Redis database, workers stopped at the end."""
    database_url = await empty_database(redis_url, 9)
    harness = Harness(unique_name, kafka_bootstrap, database_url, tmp_path)
    await ensure_topics(harness.settings)  # before producing: oversized records need them
    try:
        yield harness
    finally:
        harness.stop_all()
        admin.created.extend(harness.topic_names)


@pytest.fixture
async def cluster_harness(
    kafka_bootstrap: str,
    redis_cluster: PrivateRedisCluster,
    admin: KafkaAdmin,
    unique_name: str,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    """:func:`harness` with the workers on the private Redis Cluster (KPI_REDIS_CLUSTER)."""
    redis_cluster.flushall()  # the generator's campaign ids are the same in every test
    harness = Harness(
        unique_name, kafka_bootstrap, redis_cluster.url, tmp_path,
        extra_env={"KPI_REDIS_CLUSTER": "true"},
    )
    await ensure_topics(harness.settings)
    try:
        yield harness
    finally:
        harness.stop_all()
        admin.created.extend(harness.topic_names)
