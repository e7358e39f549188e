"""The Redis sink and the ``kpis`` command against a real Redis and a real Redis Cluster (5.1).

Every test of the sink and of the command runs twice: on the service's single Redis and on
the private 3-master Redis Cluster of the session (``redis_cluster``, started by the test
setup), where a script call that touched keys of two slots, or a key it did not declare,
would be refused by the server itself.

Every test writes campaigns of its own (ids from ``unique_name``) and deletes what it wrote.
Other processes may publish on ``kpi:updates`` meanwhile, so messages are filtered by our
campaign ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.crc import key_slot

from streams.cli import main as cli_main
from streams.codec import loads
from streams.config import Settings
from streams.domain.engine import KpiSet
from streams.kpi_view import latest_window_start, read_kpis, read_stored, window_starts
from streams.sinks import Flush
from streams.sinks.redis import (
    LEADERBOARD_KPIS,
    UPDATES_CHANNEL,
    RedisSink,
    campaign_calls,
    client_from_url,
    hash_fields,
    redis_key,
)

from .redis_cluster import PrivateRedisCluster

TTL = {"1m": 1000, "1h": 2000, "1d": 3000}
OBJECTIVES = ("awareness", "conversion", "engagement")
NOW_MS = 1_790_000_000_000
H = 3600
T = 1_790_000_000 - 1_790_000_000 % 86_400  # a UTC day start


# --------------------------------------------------------------------------------------------
# Fixtures and helpers


@dataclass(frozen=True)
class Target:
    """Where a test writes: the single Redis of the services, or the private cluster."""

    url: str
    cluster: bool

    def settings(self, **options: Any) -> Settings:
        return Settings(redis_url=self.url, redis_cluster=self.cluster, **options)

    def client(self) -> aioredis.Redis:
        """A text client (a cluster client on the cluster)."""
        return client_from_url(self.url, decode_responses=True, cluster=self.cluster)

    def sync_client(self) -> redis.Redis:
        if self.cluster:
            cluster: Any = redis.RedisCluster.from_url(self.url, decode_responses=True)
            return cluster  # type: ignore[no-any-return]
        return redis.Redis.from_url(self.url, decode_responses=True)

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url, "KPI_REDIS_CLUSTER": str(self.cluster).lower()}


@pytest.fixture(params=["single", "cluster"])
def target(request: pytest.FixtureRequest, redis_url: str) -> Target:
    """The single Redis, then the cluster (started for the session on first use)."""
    if request.param == "single":
        return Target(redis_url, cluster=False)
    cluster: PrivateRedisCluster = request.getfixturevalue("redis_cluster")
    return Target(cluster.url, cluster=True)


@pytest.fixture
def campaign_ids(target: Target, unique_name: str) -> Iterator[Callable[[str], str]]:
    """``ids("a")`` -> a campaign id of this test; everything under it is deleted after."""
    made: list[str] = []

    def make(suffix: str) -> str:
        cid = f"{unique_name}-{suffix}"
        made.append(cid)
        return cid

    yield make
    client = target.sync_client()
    try:
        for cid in made:
            # SCAN on a cluster client visits every master.
            for key in list(client.scan_iter(match=f"kpi:{{{cid}}}:*", count=1000)):
                client.delete(key)
            for key in ("kpi:campaigns", *(f"kpi:campaigns:{o}" for o in OBJECTIVES)):
                client.zrem(key, cid)
    finally:
        client.close()


@pytest.fixture
async def client(target: Target) -> AsyncIterator[aioredis.Redis]:
    """A text client on the target."""
    c = target.client()
    # A cluster client learns the slot map on its first command; pubsub() needs it already.
    await c.ping()
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
async def sink(target: Target) -> AsyncIterator[RedisSink]:
    """A started sink with short, distinct TTLs per window."""
    s = RedisSink(target.settings(ttl_s=TTL))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def campaign_sets(cid: str, objective: str | None = "conversion") -> list[KpiSet]:
    """A flush's worth of sets for one campaign: every scope, every window kind."""
    top: dict[str, object] = {"posts": 2, "engagements": 9, "ctr": 0.1 + 0.2, "roas": 1 / 3}
    if objective is not None:
        top["objective"] = objective
        top["target_progress"] = {"orders": 0.5, "cpa_minor": 1.25}
    return [
        KpiSet(cid, "campaign", cid, "all", None, None, top),
        KpiSet(cid, "campaign", cid, "1d", T, T + 86_400, {"posts": 2, "reach": 5}),
        KpiSet(cid, "campaign", cid, "1h", T + H, T + 2 * H, {"posts": 2, "reach": 5}),
        KpiSet(cid, "campaign", cid, "1m", T + H, T + H + 60, {"posts": 2}),
        KpiSet(
            cid, "influencer", "i1", "all", None, None,
            {"engagements": 7, "reach": 4, "clicks_valid": 3, "orders": 1, "revenue_minor": 4999},
        ),
        KpiSet(
            cid, "influencer", "i2", "all", None, None,
            {"engagements": 2, "reach": 1, "clicks_valid": 0, "orders": 0, "revenue_minor": 0},
        ),
        KpiSet(cid, "influencer", "i1", "1h", T + H, T + 2 * H, {"engagements": 7}),
        KpiSet(cid, "post", "p:1", "all", None, None, {"posts": 1, "likes": 7}),
    ]


async def campaign_keys(client: aioredis.Redis, cid: str) -> set[str]:
    return {k async for k in client.scan_iter(match=f"kpi:{{{cid}}}:*", count=1000)}


async def snapshot(client: aioredis.Redis, cids: Sequence[str]) -> dict[str, Any]:
    """Everything the sink keeps for these campaigns: values, and whether each key expires."""
    state: dict[str, Any] = {}
    for cid in cids:
        for key in sorted(await campaign_keys(client, cid)):
            kind = await client.type(key)
            if kind == "hash":
                value: Any = await client.hgetall(key)
            elif kind == "string":
                value = await client.get(key)
            else:
                value = await client.zrange(key, 0, -1, withscores=True)
            state[key] = (kind, value, await client.ttl(key) > 0)
    for key in ("kpi:campaigns", *(f"kpi:campaigns:{o}" for o in OBJECTIVES)):
        state[key] = {cid: await client.zscore(key, cid) for cid in cids}
    return state


async def updates(
    pubsub: Any, cids: set[str], count: int, timeout_s: float = 3.0
) -> list[dict[str, Any]]:
    """The next ``count`` messages on kpi:updates about these campaigns (within the timeout)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None and message["type"] == "message":
            body = loads(message["data"])
            if body["campaign_id"] in cids:
                got.append(body)
    return got


# --------------------------------------------------------------------------------------------
# The sink


async def test_a_flush_writes_exactly_the_contract_keys(
    client: aioredis.Redis, sink: RedisSink, campaign_ids: Callable[[str], str]
) -> None:
    a, b = campaign_ids("a"), campaign_ids("b")
    sets = [*campaign_sets(a), KpiSet(b, "campaign", b, "all", None, None, {"posts": 0})]
    pubsub = client.pubsub()
    await pubsub.subscribe(UPDATES_CHANNEL)
    try:
        await sink.write(Flush(sets, NOW_MS))
        messages = await updates(pubsub, {a, b}, 2)
        messages += await updates(pubsub, {a, b}, 1, timeout_s=0.3)  # and no more
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    hashes = {redis_key(s) for s in sets if s.campaign_id == a}
    assert hashes == {
        f"kpi:{{{a}}}:campaign:all",
        f"kpi:{{{a}}}:campaign:1d:{T}",
        f"kpi:{{{a}}}:campaign:1h:{T + H}",
        f"kpi:{{{a}}}:campaign:1m:{T + H}",
        f"kpi:{{{a}}}:influencer:i1:all",
        f"kpi:{{{a}}}:influencer:i2:all",
        f"kpi:{{{a}}}:influencer:i1:1h:{T + H}",
        f"kpi:{{{a}}}:post:p:1:all",
    }
    present = ("engagements", "reach", "clicks_valid", "orders", "revenue_minor")
    assert set(present) < set(LEADERBOARD_KPIS)  # the others are absent from these sets
    assert await campaign_keys(client, a) == hashes | {
        f"kpi:{{{a}}}:influencers",
        f"kpi:{{{a}}}:posts",
        f"kpi:{{{a}}}:flush_seq",
        *(f"kpi:{{{a}}}:leaderboard:{kpi}" for kpi in present),
    }
    assert await campaign_keys(client, b) == {
        f"kpi:{{{b}}}:campaign:all", f"kpi:{{{b}}}:flush_seq",
    }

    for kpi_set in sets:
        key = redis_key(kpi_set)
        assert await client.hgetall(key) == hash_fields(kpi_set, NOW_MS)
        ttl = await client.ttl(key)
        if kpi_set.window == "all":
            assert ttl == -1, key
        else:
            assert TTL[kpi_set.window] - 5 <= ttl <= TTL[kpi_set.window], key
        assert await read_kpis(
            client, kpi_set.campaign_id, scope=kpi_set.scope, scope_id=kpi_set.scope_id,
            window=kpi_set.window, start=kpi_set.window_start,
        ) == kpi_set.kpis

    async def zset(key: str) -> list[tuple[str, float]]:
        return [tuple(m) for m in await client.zrange(key, 0, -1, withscores=True)]

    assert await zset(f"kpi:{{{a}}}:leaderboard:revenue_minor") == [("i2", 0), ("i1", 4999)]
    assert await zset(f"kpi:{{{a}}}:leaderboard:engagements") == [("i2", 2), ("i1", 7)]
    assert await zset(f"kpi:{{{a}}}:leaderboard:reach") == [("i2", 1), ("i1", 4)]
    assert await zset(f"kpi:{{{a}}}:leaderboard:clicks_valid") == [("i2", 0), ("i1", 3)]
    assert await zset(f"kpi:{{{a}}}:leaderboard:orders") == [("i2", 0), ("i1", 1)]
    assert await zset(f"kpi:{{{a}}}:influencers") == [("i1", NOW_MS), ("i2", NOW_MS)]
    assert await zset(f"kpi:{{{a}}}:posts") == [("p:1", NOW_MS)]
    assert await client.zscore("kpi:campaigns", a) == NOW_MS
    assert await client.zscore("kpi:campaigns", b) == NOW_MS
    assert await client.zscore("kpi:campaigns:conversion", a) == NOW_MS
    for objective in OBJECTIVES:  # b has no objective: in no objective set
        assert await client.zscore(f"kpi:campaigns:{objective}", b) is None
        if objective != "conversion":
            assert await client.zscore(f"kpi:campaigns:{objective}", a) is None

    # one message per campaign, naming the hashes written for it
    assert sorted(messages, key=lambda m: str(m["campaign_id"])) == [
        {"campaign_id": a, "keys": sorted(hashes)},
        {"campaign_id": b, "keys": [f"kpi:{{{b}}}:campaign:all"]},
    ]


async def test_writing_the_same_flush_twice_leaves_the_same_state(
    client: aioredis.Redis, sink: RedisSink, campaign_ids: Callable[[str], str]
) -> None:
    a = campaign_ids("a")
    flush = Flush(campaign_sets(a), NOW_MS)
    await sink.write(flush)
    first = await snapshot(client, [a])
    await sink.write(flush)
    assert await snapshot(client, [a]) == first
    assert first[f"kpi:{{{a}}}:campaign:all"][1]["posts"] == "2"  # not 4


async def test_a_field_that_disappears_is_gone(
    client: aioredis.Redis, sink: RedisSink, campaign_ids: Callable[[str], str]
) -> None:
    a = campaign_ids("a")
    before = KpiSet(a, "influencer", "i1", "all", None, None, {"orders": 2, "aov_minor": 10.5})
    after = KpiSet(a, "influencer", "i1", "all", None, None, {"orders": 0})
    await sink.write(Flush([before], NOW_MS))
    await sink.write(Flush([after], NOW_MS + 1000))
    assert await client.hgetall(redis_key(after)) == {
        "orders": "0",
        "updated_at": str(NOW_MS + 1000),
    }
    # a windowed set too: a snapshot lowering impressions back to 0 takes its ctr away
    hour = KpiSet(a, "campaign", a, "1h", T, T + H, {"impressions": 5, "ctr": 0.2})
    await sink.write(Flush([hour], NOW_MS))
    await sink.write(Flush([KpiSet(a, "campaign", a, "1h", T, T + H, {"impressions": 0})],
                           NOW_MS + 1000))
    assert await read_kpis(client, a, window="1h", start=T) == {"impressions": 0}
    # and a leaderboard KPI that disappears takes the influencer off that leaderboard
    assert await client.zscore(f"kpi:{{{a}}}:leaderboard:orders", "i1") == 0.0
    assert await client.zscore(f"kpi:{{{a}}}:leaderboard:reach", "i1") is None


async def test_an_objective_change_moves_the_campaign(
    client: aioredis.Redis, sink: RedisSink, campaign_ids: Callable[[str], str]
) -> None:
    a = campaign_ids("a")

    async def where() -> dict[str, float | None]:
        return {o: await client.zscore(f"kpi:campaigns:{o}", a) for o in OBJECTIVES}

    def campaign_all(objective: str) -> KpiSet:
        return KpiSet(a, "campaign", a, "all", None, None, {"posts": 1, "objective": objective})

    await sink.write(Flush([campaign_all("awareness")], NOW_MS))
    assert await where() == {"awareness": NOW_MS, "conversion": None, "engagement": None}
    await sink.write(Flush([campaign_all("engagement")], NOW_MS + 1))
    assert await where() == {"awareness": None, "conversion": None, "engagement": NOW_MS + 1}
    # a flush without the campaign's `all` set refreshes its score where it is
    windowed = KpiSet(a, "campaign", a, "1m", T, T + 60, {"posts": 1})
    await sink.write(Flush([windowed], NOW_MS + 2))
    assert await where() == {"awareness": None, "conversion": None, "engagement": NOW_MS + 2}
    assert await client.zscore("kpi:campaigns", a) == NOW_MS + 2


async def test_an_error_retrying_cannot_fix_is_isolated_logged_and_counted(
    client: aioredis.Redis,
    target: Target,
    campaign_ids: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = campaign_ids("a"), campaign_ids("b")
    await client.set(f"kpi:{{{a}}}:leaderboard:orders", "not a sorted set")
    failed: list[str] = []
    sink = RedisSink(target.settings(), client=client, on_set_error=failed.append)
    sets = [
        KpiSet(a, "influencer", "i1", "all", None, None, {"orders": 1}),
        KpiSet(b, "influencer", "i1", "all", None, None, {"orders": 2}),
    ]
    await asyncio.wait_for(sink.write(Flush(sets, NOW_MS, sequences={a: 1, b: 1})), 5)
    assert failed == [f"campaign {a}"]
    assert any("WRONGTYPE" in r.getMessage() and a in r.getMessage() for r in caplog.records)
    assert await read_kpis(client, b, scope="influencer", scope_id="i1") == {"orders": 2}


async def test_a_kpi_set_that_cannot_be_encoded_is_left_out_logged_and_counted(
    client: aioredis.Redis,
    target: Target,
    campaign_ids: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One set no Redis argument can hold never stops the flush, nor the rest of its campaign."""
    a, b = campaign_ids("a"), campaign_ids("b")
    failed: list[str] = []
    sink = RedisSink(target.settings(), client=client, on_set_error=failed.append)
    no_type = KpiSet(a, "post", "p1", "all", None, None, {"posts": 1, "likes": [1, 2]})
    not_unicode = KpiSet(a, "post", "p2", "all", None, None, {"posts": 1, "platform": "\udc80"})
    sets = [
        KpiSet(a, "campaign", a, "all", None, None, {"posts": 2, "potential_reach": 2**70}),
        no_type,
        not_unicode,
        KpiSet(a, "post", "p3", "all", None, None, {"posts": 1}),
        KpiSet(b, "campaign", b, "all", None, None, {"posts": 5}),
    ]
    await asyncio.wait_for(sink.write(Flush(sets, NOW_MS, sequences={a: 1, b: 1})), 5)
    assert failed == [f"KPI set {no_type.key}", f"KPI set {not_unicode.key}"]
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(no_type.key in text and "TypeError" in text for text in logged)
    assert any(not_unicode.key in text for text in logged)
    assert await read_kpis(client, a) == {"posts": 2, "potential_reach": 2**70}
    assert await read_kpis(client, a, scope="post", scope_id="p3") == {"posts": 1}
    assert await read_kpis(client, b) == {"posts": 5}
    for left_out in ("p1", "p2"):
        assert not await client.exists(f"kpi:{{{a}}}:post:{left_out}:all")


async def test_a_write_older_than_what_redis_holds_is_refused(
    client: aioredis.Redis, sink: RedisSink, campaign_ids: Callable[[str], str]
) -> None:
    """A frozen worker's late write (an older flush sequence) never overwrites a newer one."""
    a = campaign_ids("a")

    def flush(posts: int, seq: int) -> Flush:
        kpi_set = KpiSet(a, "campaign", a, "all", None, None, {"posts": posts})
        return Flush([kpi_set], NOW_MS + seq, sequences={a: seq})

    await sink.write(flush(5, 7))
    await sink.write(flush(3, 6))  # older: refused
    assert await read_kpis(client, a) == {"posts": 5}
    await sink.write(flush(4, 7))  # the same sequence (a republish): written
    assert await read_kpis(client, a) == {"posts": 4}
    await sink.write(flush(9, 8))
    assert await read_kpis(client, a) == {"posts": 9}


async def test_a_flushed_redis_is_reported_lost(
    client: aioredis.Redis, sink: RedisSink, campaign_ids: Callable[[str], str]
) -> None:
    a, b = campaign_ids("a"), campaign_ids("b")
    sets = [KpiSet(c, "campaign", c, "all", None, None, {"posts": 1}) for c in (a, b)]
    assert await sink.write(Flush(sets, NOW_MS, sequences={a: 1, b: 1})) == set()
    assert set(await sink.lost([a, b])) == set()
    await client.delete(f"kpi:{{{a}}}:flush_seq", f"kpi:{{{a}}}:campaign:all")  # as FLUSHALL
    assert set(await sink.lost([a, b])) == {a}
    # A write that finds the campaign's sequence gone reports it lost too.
    lost = await sink.write(Flush(sets[:1], NOW_MS + 1, sequences={a: 2}))
    assert set(lost) == {a}
    # Written whole again (the pipeline's answer), it is not reported lost a second time.
    await client.delete(f"kpi:{{{a}}}:flush_seq")
    whole = Flush(sets[:1], NOW_MS + 2, sequences={a: 2}, whole=frozenset({a}))
    assert set(await sink.write(whole)) == set()
    assert set(await sink.lost([a, b])) == set()


# --------------------------------------------------------------------------------------------
# Retrying while Redis is away


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_write_waits_for_redis_to_come_up(
    caplog: pytest.LogCaptureFixture, unique_name: str
) -> None:
    server_binary = shutil.which("redis-server")
    assert server_binary is not None, "redis-server is needed (make services uses it too)"
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    errors: list[BaseException] = []
    sink = RedisSink(Settings(redis_url=url), on_error=errors.append)
    await sink.start()
    a = f"{unique_name}-a"  # on a server of its own, gone at the end
    kpi_set = KpiSet(a, "campaign", a, "all", None, None, {"posts": 1})
    server: asyncio.subprocess.Process | None = None
    caplog.set_level(logging.INFO, logger="streams.sinks.redis")
    try:
        write = asyncio.create_task(sink.write(Flush([kpi_set], NOW_MS)))
        await asyncio.sleep(0.8)
        assert not write.done()
        assert errors, "refused connections are counted"
        server = await asyncio.create_subprocess_exec(
            server_binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.wait_for(write, 4.0)
        fresh = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            assert await read_kpis(fresh, a) == {"posts": 1}
        finally:
            await fresh.aclose()
    finally:
        await sink.stop()
        if server is not None:
            server.kill()
            await asyncio.wait_for(server.wait(), 5)
    records = [r for r in caplog.records if r.name == "streams.sinks.redis"]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per outage, not one per attempt"
    assert f"Redis at {url}: writing a flush failed" in warnings[0].getMessage()
    assert "retrying" in warnings[0].getMessage()
    assert [r.levelno for r in records][-1] == logging.INFO  # the recovery


# --------------------------------------------------------------------------------------------
# The kpis command


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(argv)
    return status, out.getvalue(), err.getvalue()


def write_sync(target: Target, sets: list[KpiSet], updated_at_ms: int = NOW_MS) -> None:
    async def go() -> None:
        s = RedisSink(target.settings())
        try:
            await s.write(Flush(sets, updated_at_ms))
        finally:
            await s.stop()

    asyncio.run(go())


def test_kpis_command_prints_a_table_and_json(
    target: Target, monkeypatch: pytest.MonkeyPatch, campaign_ids: Callable[[str], str]
) -> None:
    a = campaign_ids("a")
    sets = campaign_sets(a)
    write_sync(target, sets)
    for name, value in target.env().items():
        monkeypatch.setenv(name, value)

    status, out, err = run_cli(["kpis", a])
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"kpi:{{{a}}}:campaign:all"
    rows = dict(line.split(None, 1) for line in lines[3:])
    assert rows["posts"] == "2"
    assert rows["ctr"] == "30.00%"
    assert rows["roas"] == "0.33"
    assert rows["objective"] == "conversion"
    assert rows["target_progress.orders"] == "50.00% of target"
    assert rows["target_progress.cpa_minor"] == "125.00% of target (cost: lower is better)"

    status, out, err = run_cli(["kpis", a, "--json"])
    assert (status, err) == (0, "")
    value = loads(out)
    assert value["kpis"] == sets[0].kpis
    assert value["updated_at"] == NOW_MS
    assert value["key"] == f"kpi:{{{a}}}:campaign:all"

    # a windowed scope without --start shows the most recent window
    older = KpiSet(a, "influencer", "i1", "1h", T, T + H, {"engagements": 1})
    write_sync(target, [older])
    status, out, _ = run_cli(["kpis", a, "--scope", "influencer", "--id", "i1", "--window", "1h",
                              "--json"])
    assert status == 0
    assert loads(out)["window_start"] == T + H
    assert loads(out)["kpis"] == {"engagements": 7}
    status, out, _ = run_cli(["kpis", a, "--scope", "influencer", "--id", "i1", "--window", "1h",
                              "--start", str(T), "--json"])
    assert (status, loads(out)["kpis"]) == (0, {"engagements": 1})
    status, out, _ = run_cli(["kpis", a, "--scope", "post", "--id", "p:1"])
    assert status == 0
    assert "likes" in out


def test_kpis_command_missing_and_unreachable(
    target: Target, monkeypatch: pytest.MonkeyPatch, campaign_ids: Callable[[str], str]
) -> None:
    a = campaign_ids("nothing")
    for name, value in target.env().items():
        monkeypatch.setenv(name, value)
    status, out, err = run_cli(["kpis", a])
    assert (status, out) == (1, "")
    assert f"no KPIs for campaign {a} (scope campaign, window all)" in err
    assert "is the worker running?" in err
    status, _, err = run_cli(["kpis", a, "--window", "1h"])
    assert status == 1
    assert "window 1h, any start" in err

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    status, out, err = run_cli(["kpis", a])
    assert (status, out) == (2, "")
    assert "cannot read Redis at redis://127.0.0.1:" in err


async def test_read_stored_of_an_absent_set_is_none(
    client: aioredis.Redis, campaign_ids: Callable[[str], str]
) -> None:
    assert await read_stored(client, campaign_ids("none")) is None


# --------------------------------------------------------------------------------------------
# Redis Cluster


def master_port(client: redis.RedisCluster, campaign_id: str) -> int:
    """The port of the master that holds a campaign's slot."""
    node: Any = client.get_node_from_key(  # type: ignore[no-untyped-call]
        f"kpi:{{{campaign_id}}}:flush_seq"
    )
    return int(node.port)


def spread_campaigns(make: Callable[[str], str], cluster: PrivateRedisCluster) -> list[str]:
    """Campaign ids of this test whose slots fall on every master of the cluster."""
    client = redis.RedisCluster.from_url(cluster.url)
    try:
        by_node: dict[int, str] = {}
        for n in range(200):
            cid = make(f"c{n}")
            by_node.setdefault(master_port(client, cid), cid)
            if len(by_node) == len(cluster.ports):
                return sorted(by_node.values())
    finally:
        client.close()
    raise AssertionError("200 campaign ids never covered every master")


@pytest.mark.parametrize("target", ["cluster"], indirect=True)
async def test_on_the_cluster_each_call_is_one_slot_and_every_master_is_written(
    redis_cluster: PrivateRedisCluster, campaign_ids: Callable[[str], str], target: Target
) -> None:
    cids = spread_campaigns(campaign_ids, redis_cluster)
    flush = Flush([s for cid in cids for s in campaign_sets(cid)], NOW_MS)
    calls = campaign_calls(flush, TTL)
    for call in calls:  # the server refuses CROSSSLOT calls; this says why they never are
        assert len({key_slot(key.encode()) for key in call.keys}) == 1, call.keys
    sink = RedisSink(target.settings(ttl_s=TTL))
    try:
        assert await sink.write(flush) == set()
    finally:
        await sink.stop()
    # each master holds the keys of exactly one of the campaigns, all of them: read directly
    for port in redis_cluster.ports:
        node = aioredis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        try:
            keys = {k async for k in node.scan_iter(match="kpi:{*", count=1000)}
        finally:
            await node.aclose()
        here = {cid for cid in cids if f"kpi:{{{cid}}}:flush_seq" in keys}
        assert len(here) == 1, (port, here)
        (cid,) = here
        ours = {k for k in keys if any(k.startswith(f"kpi:{{{c}}}:") for c in cids)}
        assert {k for k in ours if not k.startswith(f"kpi:{{{cid}}}:")} == set()
        assert ours >= {redis_key(s) for s in campaign_sets(cid)}


async def test_window_readers_scan_the_campaigns_slot(
    target: Target, client: aioredis.Redis, campaign_ids: Callable[[str], str]
) -> None:
    """window_starts and latest_window_start (the readers that SCAN) on either deployment."""
    a, b = campaign_ids("a"), campaign_ids("a-b")  # b's keys share a's prefix up to the brace
    hours = [T + k * H for k in (3, 0, 7, 1)]
    sets = [KpiSet(a, "campaign", a, "1h", h, h + H, {"posts": 1}) for h in hours]
    sets += [KpiSet(a, "influencer", "i:1", "1h", T + 9 * H, T + 10 * H, {"posts": 1})]
    sets += [KpiSet(b, "campaign", b, "1h", T + 20 * H, T + 21 * H, {"posts": 1})]
    sink = RedisSink(target.settings(ttl_s=TTL))
    try:
        await sink.write(Flush(sets, NOW_MS))
    finally:
        await sink.stop()
    assert await window_starts(client, a, "campaign", None, "1h") == sorted(hours)
    assert await window_starts(client, a, "influencer", "i:1", "1h") == [T + 9 * H]
    assert await window_starts(client, a, "influencer", "i", "1h") == []
    assert await latest_window_start(client, a, "campaign", None, "1h") == T + 7 * H
    assert await latest_window_start(client, b, "campaign", None, "1h") == T + 20 * H
    assert await latest_window_start(client, a, "campaign", None, "1m") is None
    # a fresh cluster client (no slot map yet), as the kpis command has
    fresh = target.client()
    try:
        assert await latest_window_start(fresh, a, "campaign", None, "1h") == T + 7 * H
    finally:
        await fresh.aclose()


async def test_a_restarted_cluster_master_is_reported_lost(tmp_path: Any, unique_name: str) -> None:
    """The run ids of every master are watched: one restarting (empty) rewrites everything."""
    cluster = PrivateRedisCluster(tmp_path / "cluster")  # its own: a node is restarted
    cluster.start()
    sink = RedisSink(Settings(redis_url=cluster.url, redis_cluster=True))
    try:
        # Campaigns on two masters; the third, which holds none of them, restarts: the sink
        # still writes every campaign again, since it cannot know what a restarted master held.
        restarted = cluster.ports[0]
        probe = redis.RedisCluster.from_url(cluster.url)
        try:
            cids = [
                cid for cid in (f"{unique_name}-{n}" for n in range(40))
                if master_port(probe, cid) != restarted
            ]
        finally:
            probe.close()
        sets = [KpiSet(c, "campaign", c, "all", None, None, {"posts": 1}) for c in cids]
        assert await sink.write(Flush(sets, NOW_MS, sequences=dict.fromkeys(cids, 1))) == set()
        assert set(await sink.lost(cids)) == set()  # the run ids are noted
        assert set(await sink.lost(cids)) == set()
        cluster.restart_node(restarted)
        for _ in range(50):  # the client notices the reconnect on its own time
            lost = set(await sink.lost(cids))
            if lost:
                break
            await asyncio.sleep(0.2)
        assert lost == set(cids)
        assert set(await sink.lost(cids)) == set()  # once
    finally:
        await sink.stop()
        cluster.stop()


async def test_write_waits_for_a_cluster_that_is_down(tmp_path: Any, unique_name: str) -> None:
    """Every master away: the sink retries (as for a single Redis), then writes."""
    cluster = PrivateRedisCluster(tmp_path / "cluster")
    cluster.start()
    errors: list[BaseException] = []
    sink = RedisSink(Settings(redis_url=cluster.url, redis_cluster=True), on_error=errors.append)
    a = f"{unique_name}-a"
    try:
        await sink.write(Flush([KpiSet(a, "campaign", a, "all", None, None, {"posts": 1})], NOW_MS))
        for port in cluster.ports:
            cluster.kill_node(port)
        kpi_set = KpiSet(a, "campaign", a, "all", None, None, {"posts": 2})
        write = asyncio.create_task(sink.write(Flush([kpi_set], NOW_MS + 1)))
        await asyncio.sleep(1.5)
        assert not write.done(), write.exception() if write.done() else None
        assert errors, "the failed attempts are counted"
        assert set(await sink.lost([a])) == set()  # unknown while away, not a verdict
        for port in cluster.ports:
            cluster.start_node(port)
        cluster.wait_ok()
        await asyncio.wait_for(write, 30)
        fresh = Target(cluster.url, cluster=True).client()
        try:
            assert await read_kpis(fresh, a) == {"posts": 2}
        finally:
            await fresh.aclose()
    finally:
        await sink.stop()
        cluster.stop()
