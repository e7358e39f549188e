"""Crash recovery the README promises, each provoked for real on a running worker.

* A worker killed between a flush's Kafka commit and its Redis write: Redis lacks what Kafka
  holds, and the next worker writes it, with no new input.
* An unexpected error: the worker exits with status 70, and a restarted one resumes exactly
  where it was.
* ``campaign-kpi republish``: running workers rewrite a loss they could not notice.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import redis

from streams.connections import redis_client
from streams.sinks.redis import key_for
from streams.topics import ensure_topics

from .support import KafkaAdmin
from .test_worker_pipeline import assert_agrees_with_replay
from .worker_harness import (
    REPO_ROOT,
    Harness,
    define_campaigns,
    differences,
    free_port,
    generated_records,
    replay_expected,
)


async def test_a_kill_between_the_kafka_commit_and_the_redis_write_is_repaired(
    harness: Harness,
) -> None:
    records = generated_records(16, 3000)
    first = harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    held_back = len(events) - 300
    await harness.produce(events[:held_back], produced)
    await harness.wait_processed()
    assert first.stop() == 0, first.log_tail()
    await harness.produce(events[held_back:], produced)
    # Every flush of the new records pauses 10 s between its Kafka commit and its Redis write
    # (one or more flushes: the restored partitions catch up one fetch at a time). Once the
    # group committed every record, the last flush is in its pause: kill it there.
    paused = harness.start_worker(
        KPI_TEST_FAULT_DELAYS="committed=10/1", KPI_FLUSH_INTERVAL_S="60"
    )
    await harness.wait_processed(timeout_s=120)
    in_kafka = await harness.kpi_topic_values()
    missed = differences(
        {key: value["kpis"] for key, value in in_kafka.items()},
        await harness.redis_values(in_kafka),
    )
    paused.stop(signal.SIGKILL)
    moments = re.findall(r"fault point committed: (pausing|resumed)", paused.log())
    assert moments[-1:] == ["pausing"], "the kill came after the last Redis write"
    assert missed, "Redis already holds the paused flush: the kill would hit nothing"

    harness.start_worker()  # no new input: only the restored state can repair Redis
    expected, _ = replay_expected(records)
    await harness.wait_redis_holds(expected, "the kill between commit and Redis write", 90)
    await assert_agrees_with_replay(harness, records, produced)
    done, total = await harness.processed()
    assert done == total


def start_redis_with_user(port: int, *user: str) -> subprocess.Popen[bytes]:
    """A private redis-server whose default user has every right, plus one ACL user."""
    redis_server = shutil.which("redis-server")
    assert redis_server is not None, "redis-server is needed (make services installs it)"
    return subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--user", *user],
        stdout=subprocess.DEVNULL,
    )


async def test_an_unexpected_error_exits_70_and_a_restart_resumes_exactly(
    kafka_bootstrap: str, admin: KafkaAdmin, unique_name: str, tmp_path: Path
) -> None:
    """The error: Redis withdraws INFO from the worker's user mid-stream.

    The worker checks at start that it may run INFO (refused there, it exits 78); taken away
    later, the next loss check fails with an error the worker has no handling for.
    """
    port = free_port()
    server = start_redis_with_user(port, "kpi", "on", ">kpi-worker-secret", "~*", "&*", "+@all")
    control = redis.Redis(port=port)
    harness = Harness(
        unique_name, kafka_bootstrap, f"redis://kpi:kpi-worker-secret@127.0.0.1:{port}/0",
        tmp_path,
    )
    try:
        for _ in range(100):
            try:
                control.ping()
                break
            except redis.ConnectionError:
                await asyncio.sleep(0.1)
        await ensure_topics(harness.settings)
        records = generated_records(17, 4000)
        crashing = harness.start_worker()
        produced, events = await define_campaigns(harness, records)
        producing = asyncio.create_task(harness.produce(events, produced, pace_s=0.25))
        await harness.wait_processed(at_least=0.3)
        control.acl_setuser("kpi", enabled=True, commands=["-info"])  # the rest kept
        assert crashing.process is not None
        status = await asyncio.to_thread(crashing.process.wait, 60)
        assert status == 70, crashing.log_tail()
        assert "exiting with status 70" in crashing.log()
        harness.workers.remove(crashing)  # its exit is the one under test
        assert not producing.done(), "input ended before the crash: not mid-stream"

        control.acl_setuser("kpi", enabled=True, commands=["+info"])
        harness.start_worker()
        await producing
        await harness.wait_processed()
        await assert_agrees_with_replay(harness, records, produced)
    finally:
        harness.stop_all()
        control.close()
        server.terminate()
        server.wait(10)
        admin.created.extend(harness.topic_names)


async def test_republish_rewrites_what_redis_lost_unnoticed(harness: Harness) -> None:
    """A campaign's KPI hashes deleted, its ``flush_seq`` left: only ``republish`` tells."""
    records = generated_records(18, 2000)
    harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    await harness.produce(events, produced)
    await harness.wait_processed()
    expected, _ = replay_expected(records)
    await harness.wait_redis_holds(expected, "processing")
    cid = sorted({value["campaign_id"] for value in expected.values()})[0]
    theirs = {key: value for key, value in expected.items() if value["campaign_id"] == cid}
    client = redis_client(harness.settings)
    try:
        await client.delete(*(
            key_for(v["campaign_id"], v["scope"], v["scope_id"], v["window"], v["window_start"])
            for v in theirs.values()
        ))
    finally:
        await client.aclose()
    await asyncio.sleep(3)  # three loss checks: none sees it
    assert set((await harness.redis_values(theirs)).values()) == {None}

    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "republish", cid, "--timeout", "30",
        env=harness.env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    output = (await command.communicate())[0].decode()
    assert command.returncode == 0, output
    assert "1/1 campaigns rewritten" in output
    await harness.wait_redis_holds(expected, "republish", timeout_s=5)
