"""The internals streams/faust_compat.py overrides or uses still have the shape it relies on.

Written for faust-streaming 0.15.3 and aiokafka 0.14.0: an upgrade that renames, removes or
re-signs one of them fails here, loudly, instead of silently changing what the worker does.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.transport.utils import DefaultSchedulingStrategy
from faust.web.drivers import aiohttp as aiohttp_driver

from streams import faust_compat

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}

# (class, method, its parameters): what faust_compat overrides or calls.
OVERRIDDEN: list[tuple[type, str, list[str]]] = [
    (aiokafka_driver.AIOKafkaConsumerThread, "_create_worker_consumer", ["self", "transport"]),
    (aiokafka_driver.Consumer, "_new_consumer_thread", ["self"]),
    (aiokafka_driver.Consumer, "_drain_messages", ["self", "fetcher"]),
    (faust.App, "_new_transport", ["self"]),
    (faust.App, "_new_web", ["self"]),
]
USED: list[tuple[type, str, list[str]]] = [
    (aiokafka_driver.Consumer, "_wait_next_records", ["self", "timeout"]),
    (aiokafka_driver.Consumer, "_commit_offsets", ["self", "offsets", "start_new_transaction"]),
    (aiokafka_driver.Consumer, "seek_wait", ["self", "partitions"]),
    (aiokafka_driver.Consumer, "highwater", ["self", "tp"]),
]


@pytest.mark.parametrize(("package", "pinned"), sorted(PINNED.items()))
def test_the_installed_versions_are_the_ones_the_overrides_were_written_for(
    package: str, pinned: str
) -> None:
    assert version(package) == pinned, (
        f"{package} {version(package)} is installed; streams/faust_compat.py was written for "
        f"{pinned}: check every override against the new version, then update the pins"
    )


@pytest.mark.parametrize(("owner", "name", "parameters"), OVERRIDDEN + USED)
def test_each_internal_exists_with_the_parameters_relied_on(
    owner: type, name: str, parameters: list[str]
) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"{owner.__qualname__}.{name} is gone"
    assert list(inspect.signature(method).parameters) == parameters


@pytest.mark.parametrize(("owner", "name", "parameters"), OVERRIDDEN)
def test_each_override_keeps_the_signature_of_what_it_replaces(
    owner: type, name: str, parameters: list[str]
) -> None:
    ours = next(
        cls for cls in (faust_compat._ConsumerThread, faust_compat.BatchConsumer,
                        faust_compat.CompatApp)
        if issubclass(cls, owner)
    )
    assert name in vars(ours), f"{ours.__qualname__} no longer overrides {name}"
    assert list(inspect.signature(vars(ours)[name]).parameters) == parameters


def test_the_consumer_attributes_read_in_the_fetch_loop_exist() -> None:
    consumer = aiokafka_driver.Consumer
    assert hasattr(consumer, "flow_active")
    assert hasattr(consumer, "consumer_stopped_errors")
    # The scheduler is made per consumer: its strategy class must still iterate a fetch.
    assert "self.scheduler = " in inspect.getsource(Consumer.__init__)
    assert callable(DefaultSchedulingStrategy.iterate)
    assert "consumer_generation_id" in dir(faust.App)


async def test_the_aiokafka_consumer_keeps_fetch_wait_and_isolation_where_they_are_set() -> None:
    # faust_compat sets these two private attributes after Faust built the consumer and
    # before it starts: they must be where the constructor stores the two settings ...
    consumer = AIOKafkaConsumer(
        bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=7, isolation_level="read_committed"
    )
    try:
        assert consumer._fetch_max_wait_ms == 7
        assert consumer._isolation_level == "read_committed"
    finally:
        await consumer.stop()
    # ... and be read when it starts (where the fetcher is built), not in the constructor.
    started = inspect.getsource(AIOKafkaConsumer.start)
    assert "self._fetch_max_wait_ms" in started
    assert "self._isolation_level" in started


def test_the_web_server_builds_its_views_from_the_four_blueprint_lists() -> None:
    for name in ("default_blueprints", "production_blueprints", "debug_blueprints",
                 "optional_blueprints"):
        assert hasattr(aiohttp_driver.Web, name), name
        assert getattr(faust_compat.OwnPagesWeb, name) == ()
