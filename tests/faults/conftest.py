"""Fixtures of the fault tests: the services of `make services`, as for the integration tests.

``make test`` runs the quick variant of every scenario; ``make chaos`` (``KPI_CHAOS=1``) the
long ones and prints a one-line summary of what was injected and what matched. A missing
service fails a test, it never skips it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streams.config import Settings
from streams.topics import ensure_topics

from ..integration.support import (
    START_HINT,
    KafkaAdmin,
    ServiceAddresses,
    ServiceUnavailableError,
    load_addresses,
)
from ..integration.worker_harness import empty_database

# A Redis database of their own: the integration tests use 8 and 9, tests/faults/run.py 11.
REDIS_DATABASE = 12


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of this folder's tests."""
    config.addinivalue_line("markers", "faults: fault injection on real workers and services")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected under tests/faults with ``faults``."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def addresses() -> ServiceAddresses:
    """The services' addresses; fails the test when they are not configured."""
    try:
        return load_addresses()
    except ServiceUnavailableError as exc:
        pytest.fail(f"{exc}; {START_HINT}", pytrace=False)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name of this test's own: prefix of its topics, its group and app id."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-").lower()[:32]
    return f"fault-{slug}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis_url(addresses: ServiceAddresses) -> str:
    """An emptied Redis database of the fault tests."""
    return await empty_database(addresses.redis_url, REDIS_DATABASE)


@pytest.fixture
async def settings(
    addresses: ServiceAddresses, redis_url: str, unique_name: str
) -> AsyncIterator[Settings]:
    """Settings of an in-process pipeline, its topics created (and deleted afterwards)."""
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP": addresses.kafka_bootstrap,
            "REDIS_URL": redis_url,
            "KPI_APP_ID": unique_name,
            "KPI_TOPIC_PREFIX": f"{unique_name}-",
        }
    )
    await ensure_topics(settings)
    yield settings
    admin = KafkaAdmin(addresses.kafka_bootstrap)
    await admin.start()
    admin.created.extend(
        [
            *settings.logical_topics(),
            settings.state_topic_name,
            settings.kpi_topic_name,
            settings.dlq_topic_name,
        ]
    )
    await admin.close()


# What every scenario of the session injected and matched, for the one-line summary.
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per scenario run, then the total, at the end of the session."""
    if SUMMARY:
        terminalreporter.section("fault scenarios")
        for line in SUMMARY:
            terminalreporter.write_line(line)
        exact = sum(line.endswith("; EXACT") for line in SUMMARY)
        terminalreporter.write_line(
            f"faults: {len(SUMMARY)} scenarios, {exact} exact, {len(SUMMARY) - exact} not"
        )
