"""Fixtures of the report tests: the real Redis (database 12) and Kafka of `make services`.

Tests that need them are in ``test_*_live.py`` files and are marked ``integration`` here,
like tests/integration's: an unreachable service FAILS them, it never skips them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from streams.config import Settings

from ..integration.support import (
    START_HINT,
    KafkaAdmin,
    ServiceUnavailableError,
    check_reachable,
    load_addresses,
)
from .support import Simulated, database_url, simulate


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the live tests (``test_*_live.py``) with ``integration``."""
    for item in items:
        if Path(item.path).name.endswith("_live.py"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def simulated() -> Simulated:
    """One simulated run (three campaigns, one per objective), replayed: real KPI sets."""
    return simulate()


@pytest.fixture(scope="session")
def services() -> tuple[str, str]:
    """(Kafka bootstrap, Redis URL of database 12), both reachable."""
    try:
        addresses = load_addresses()
        check_reachable("Redis", addresses.redis_url, 6379)
        for host in addresses.kafka_hosts:
            check_reachable("Kafka", host, 9092)
    except ServiceUnavailableError as exc:
        pytest.fail(f"{exc}; {START_HINT}", pytrace=False)
    return addresses.kafka_bootstrap, database_url(addresses.redis_url)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic prefix no other test uses."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-").lower()[:30]
    return f"rep-{slug}-{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def settings(services: tuple[str, str], unique_name: str) -> Settings:
    """Settings on database 12 (emptied first) and topics of this test's own prefix."""
    kafka, redis_url = services
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()
    return replace(
        Settings(), kafka_bootstrap=kafka, redis_url=redis_url, topic_prefix=unique_name,
        partitions=2,
    )


@pytest.fixture
async def admin(services: tuple[str, str]) -> AsyncIterator[KafkaAdmin]:
    """A Kafka admin; the topics it creates are deleted at teardown."""
    kafka_admin = KafkaAdmin(services[0])
    try:
        await kafka_admin.start()
    except Exception as exc:  # aiokafka's connection errors are not OSError
        await kafka_admin.close()
        pytest.fail(f"Kafka admin could not connect to {services[0]}: {exc!r}; {START_HINT}")
    try:
        yield kafka_admin
    finally:
        await kafka_admin.close()
