"""Fixtures of the web view tests: the real Redis (database 13) and Kafka of `make services`.

Tests that need the services live in ``test_*_live.py`` files and are marked
``integration`` here, like tests/integration's: an unreachable service FAILS them, never
skips them. Browser tests drive the Debian ``chromium`` through Playwright (never a
downloaded browser).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from ..integration.support import (
    START_HINT,
    KafkaAdmin,
    ServiceUnavailableError,
    check_reachable,
    load_addresses,
)
from .support import WEB_DB, database_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the live tests (``test_*_live.py``) with ``integration``."""
    for item in items:
        if Path(item.path).name.endswith("_live.py"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def services() -> tuple[str, str]:
    """(Kafka bootstrap, Redis URL of database 13), both reachable."""
    try:
        addresses = load_addresses()
        check_reachable("Redis", addresses.redis_url, 6379)
        for host in addresses.kafka_hosts:
            check_reachable("Kafka", host, 9092)
    except ServiceUnavailableError as exc:
        pytest.fail(f"{exc}; {START_HINT}", pytrace=False)
    return addresses.kafka_bootstrap, database_url(addresses.redis_url, WEB_DB)


@pytest.fixture
async def redis_url(services: tuple[str, str]) -> str:
    """Database 13, emptied before the test."""
    url = services[1]
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return url


@pytest.fixture
async def admin(services: tuple[str, str]) -> AsyncIterator[KafkaAdmin]:
    """A Kafka admin; the topics it is told about are deleted at teardown."""
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
