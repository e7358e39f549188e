"""The streaming worker on the real services agrees with the batch replay, value by value.

Each test produces the oracle generator's messy multi-campaign input (duplicates, late
events, bots, repeats, promo-code and link orders, out-of-window orders, invalid records)
to its own topics, runs real `campaign-kpi worker` processes, and then compares Redis, the
KPI topic and the dead-letter topic with `replay` of the same records. The restart, the
rebalance and the SIGKILL variants prove that every record is applied exactly once.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import redis

from streams.domain.vocabulary import Topic
from streams.topics import ensure_topics

from .private_kafka import PrivateKafka
from .redis_cluster import PrivateRedisCluster
from .support import KafkaAdmin
from .worker_harness import (
    PARTITIONS,
    Harness,
    InputRecord,
    Produced,
    WorkerProcess,
    define_campaigns,
    differences,
    empty_database,
    free_port,
    generated_records,
    replay_expected,
)

SEED_SIZES = {"plain": (11, 4000), "restart": (12, 6000), "rebalance": (13, 6000)}


async def assert_agrees_with_replay(
    harness: Harness, records: list[InputRecord], produced: Produced
) -> None:
    """Redis, the KPI topic and the dead-letter topic hold what the replay computes."""
    expected, reasons = replay_expected(records)
    topic_values = await harness.kpi_topic_values()
    assert differences(expected, topic_values) == []
    stored = await harness.redis_values(expected)
    expected_kpis = {key: value["kpis"] for key, value in expected.items()}
    assert differences(expected_kpis, stored) == []

    dead_letters = await harness.dead_letters()
    assert Counter(d["reason"] for d in dead_letters) == reasons
    for letter in dead_letters:
        original = produced.positions[letter["topic"], letter["partition"], letter["offset"]]
        assert letter["value_encoding"] == "utf-8"
        assert letter["value"].encode() == original[:65536]
        assert letter["truncated"] == (len(original) > 65536)


async def test_worker_outputs_agree_with_replay(harness: Harness) -> None:
    records = generated_records(*SEED_SIZES["plain"])
    harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    await harness.produce(events, produced)
    await harness.wait_processed()
    await assert_agrees_with_replay(harness, records, produced)


async def test_a_caught_up_worker_flushes_at_once(harness: Harness) -> None:
    # KPI_FLUSH_INTERVAL_S is the longest a record waits, not a period: with 60 s, each wait
    # below (group offsets are committed after a flush) would time out on the interval.
    records = generated_records(14, 1500)
    harness.start_worker(KPI_FLUSH_INTERVAL_S="60")
    produced = Produced()
    await harness.produce([r for r in records if r.topic == Topic.CAMPAIGNS], produced)
    await harness.wait_processed(timeout_s=40)  # the worker's start-up included
    await harness.produce([r for r in records if r.topic != Topic.CAMPAIGNS], produced)
    await harness.wait_processed(timeout_s=15)
    await assert_agrees_with_replay(harness, records, produced)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "kill"])
async def test_restart_mid_stream_applies_every_record_once(
    harness: Harness, stop_signal: int
) -> None:
    await restart_mid_stream(harness, stop_signal)


async def test_restart_mid_stream_on_a_redis_cluster_applies_every_record_once(
    cluster_harness: Harness,
) -> None:
    """The SIGKILL variant with the workers writing to the private Redis Cluster."""
    await restart_mid_stream(cluster_harness, signal.SIGKILL)


async def restart_mid_stream(harness: Harness, stop_signal: int) -> None:
    """Stop (or kill) the worker while input streams in, start another: all exactly once."""
    records = generated_records(*SEED_SIZES["restart"])
    worker = harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    third = len(events) // 3
    await harness.produce(events[:third], produced)
    producing = asyncio.create_task(harness.produce(events[third:], produced, pace_s=0.1))
    await harness.wait_processed(at_least=0.4)
    assert not producing.done(), "input ended before the worker was stopped: not mid-stream"
    worker.stop(stop_signal)
    await producing
    harness.start_worker()
    await harness.wait_processed()
    await assert_agrees_with_replay(harness, records, produced)


async def test_two_workers_and_rebalances_apply_every_record_once(harness: Harness) -> None:
    """Partitions move to a second worker and back to the first one mid-stream.

    Each worker's ``campaign_kpi_partitions_owned`` gauge (its /metrics) shows the hand-overs
    happened: both own partitions at the same time, together all of them, before the first
    stops; then the second owns every one.
    """
    records = generated_records(*SEED_SIZES["rebalance"])
    first = harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    half = len(events) // 2
    await harness.produce(events[:half], produced)
    await harness.wait_processed(at_least=0.2)
    second = harness.start_worker()  # the group rebalances: partitions move to the second
    producing = asyncio.create_task(harness.produce(events[half:], produced, pace_s=0.2))
    shared = await owned_by_each(
        [first, second], lambda owned: min(owned) >= 1 and sum(owned) == PARTITIONS
    )
    await harness.wait_processed(at_least=0.6)
    assert not producing.done(), f"input ended before the rebalance ({shared}): not mid-stream"
    first.stop(signal.SIGTERM)  # and back: the second worker takes every partition
    await owned_by_each([second], lambda owned: owned == [PARTITIONS])
    await producing
    await harness.wait_processed()
    await assert_agrees_with_replay(harness, records, produced)


async def owned_by_each(
    workers: list[WorkerProcess], wanted: Callable[[list[int]], bool], timeout_s: float = 60.0
) -> list[int]:
    """Poll the workers' partitions_owned gauges until ``wanted`` holds for one reading."""
    owned: list[int | None] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        owned = [worker.partitions_owned() for worker in workers]
        if None not in owned and wanted(cast(list[int], owned)):
            return cast(list[int], owned)
        await asyncio.sleep(0.2)
    tails = "\n---\n".join(w.log_tail() for w in workers)
    raise AssertionError(f"partitions owned by each worker: last {owned}\n{tails}")


async def test_redis_outage_mid_stream_loses_nothing(
    kafka_bootstrap: str, admin: KafkaAdmin, unique_name: str, tmp_path: Path
) -> None:
    """The worker waits for a Redis that went away, then writes everything it missed."""
    redis_server = shutil.which("redis-server")
    assert redis_server is not None, "redis-server is needed (make services installs it)"
    port = free_port()
    data_dir = tmp_path / "redis"
    data_dir.mkdir()

    def start_redis() -> subprocess.Popen[bytes]:
        # Persistent, so the outage loses no data: only availability is under test.
        return subprocess.Popen(
            [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL,
        )

    server = start_redis()
    harness = Harness(unique_name, kafka_bootstrap, f"redis://127.0.0.1:{port}/0", tmp_path)
    await ensure_topics(harness.settings)
    try:
        records = generated_records(*SEED_SIZES["plain"])
        harness.start_worker()
        produced, events = await define_campaigns(harness, records)
        producing = asyncio.create_task(harness.produce(events, produced, pace_s=0.25))
        await harness.wait_processed(at_least=0.3)
        server.terminate()  # Redis goes away mid-stream ...
        server.wait(10)
        await asyncio.sleep(3)
        assert not producing.done(), "input ended during the outage: not mid-stream"
        server = start_redis()  # ... and comes back
        await producing
        await harness.wait_processed()
        await assert_agrees_with_replay(harness, records, produced)
        worker = harness.workers[0]
        assert "writing a flush failed" in worker.log()
        assert (worker.sample("campaign_kpi_sink_errors_total", sink="redis") or 0) > 0
    finally:
        harness.stop_all()
        server.terminate()
        server.wait(10)
        admin.created.extend(harness.topic_names)


async def test_kafka_outage_mid_stream_loses_nothing(
    redis_url: str, unique_name: str, tmp_path: Path
) -> None:
    """The broker goes away during a flush with input still to process, and comes back.

    The outage outlasts the flush's transaction (KPI_TRANSACTION_TIMEOUT_S=2): the worker
    gives the flush up, drops the partitions' state and redoes the work from the last
    committed flush once Kafka answers again; nothing is lost or counted twice.
    """
    kafka = PrivateKafka(tmp_path)
    kafka.start()
    database_url = await empty_database(redis_url, 8)
    harness = Harness(unique_name, kafka.bootstrap, database_url, tmp_path)
    try:
        await ensure_topics(harness.settings)
        records = generated_records(*SEED_SIZES["plain"])
        # Every transaction is held open 1.5 s (records sent, not committed): a slow worker
        # with input waiting, and the moment the broker is stopped in.
        worker = harness.start_worker(
            KPI_TRANSACTION_TIMEOUT_S="2", KPI_TEST_FAULT_DELAYS="mid_flush=1.5/1"
        )
        produced, events = await define_campaigns(harness, records)
        await harness.produce(events, produced)
        await worker.wait_logged("fault point mid_flush: pausing")
        done, total = await harness.processed()
        assert done < total, "the input was processed before the outage: not mid-stream"
        kafka.stop()  # the broker goes away mid-flush ...
        await asyncio.sleep(8)
        kafka.start()  # ... and comes back with its data
        await harness.wait_processed(timeout_s=180)
        await assert_agrees_with_replay(harness, records, produced)
        # The flush caught by the outage was given up, and its partition opened again from
        # the state topic: the work redone, not skipped.
        log = worker.log()
        given_up = re.search(
            r"partition (\d+): flush not committed \(.*\); its state will be restored", log
        )
        assert given_up is not None, worker.log_tail()
        assert f"partition {given_up[1]}: opened at flush" in log[given_up.end():]
    finally:
        harness.stop_all()
        kafka.stop()


async def test_worker_on_a_redis_cluster_agrees_and_rewrites_what_a_master_lost(
    cluster_harness: Harness, redis_cluster: PrivateRedisCluster
) -> None:
    """A real worker with KPI_REDIS_CLUSTER=true on the private 3-master cluster.

    Its outputs agree with the replay; then one master is flushed and another restarted
    empty (a new run id), and each time the outputs come back whole without new input: the
    flush_seq keys and the run ids of every master are watched.
    """
    harness = cluster_harness
    records = generated_records(*SEED_SIZES["plain"])
    harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    await harness.produce(events, produced)
    await harness.wait_processed()
    await assert_agrees_with_replay(harness, records, produced)

    expected, _ = replay_expected(records)
    cids = sorted({value["campaign_id"] for value in expected.values()})
    probe = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        by_port = Counter(
            int(probe.get_node_from_key(f"kpi:{{{cid}}}:flush_seq").port)  # type: ignore[no-untyped-call]
            for cid in cids
        )
    finally:
        probe.close()
    assert len(by_port) >= 2, "the campaigns should span masters"
    flushed, restarted = (port for port, _ in by_port.most_common(2))

    node = redis.Redis(host="127.0.0.1", port=flushed)
    try:
        node.flushall()  # one master loses its data ...
        assert node.dbsize() == 0  # (the worker rewrites within about a second)
    finally:
        node.close()
    await harness.wait_redis_holds(expected, f"FLUSHALL of master :{flushed}")
    redis_cluster.restart_node(restarted)  # ... another restarts empty
    await harness.wait_redis_holds(expected, f"a restart of master :{restarted}")
    log = harness.workers[0].log_path.read_text(errors="replace")
    assert "Redis restarted (run id changed)" in log
    assert harness.workers[0].process is not None
    assert harness.workers[0].process.poll() is None, harness.workers[0].log_tail()


async def test_worker_waits_for_an_absent_cluster_and_refuses_a_plain_redis(
    harness: Harness, redis_url: str
) -> None:
    """KPI_REDIS_CLUSTER=true: an absent cluster is waited for, a plain Redis refused.

    No node answering is an outage (waited for, as for a single Redis); a Redis without
    cluster mode is a setting to fix (exit 78, naming it).
    """
    away = harness.start_worker(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", KPI_REDIS_CLUSTER="true"
    )
    refused = harness.start_worker(REDIS_URL=redis_url, KPI_REDIS_CLUSTER="true")
    assert refused.process is not None
    assert refused.process.wait(60) == 78, refused.log_tail()
    assert "KPI_REDIS_CLUSTER=true" in refused.log_path.read_text()
    await asyncio.sleep(3)
    assert away.process is not None
    assert away.process.poll() is None, away.log_tail()
    assert "not reachable at start" in away.log_path.read_text()
    assert away.stop() == 0, away.log_tail()
