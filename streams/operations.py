"""Operator commands: ``campaign-kpi republish`` and ``campaign-kpi forget``.

``republish`` makes the running workers write campaigns' KPI sets into Redis again, from the
state they hold (which is what Kafka committed): it deletes the campaigns' ``flush_seq``
keys, which is how a worker recognises a campaign Redis lost (streams.sinks.redis), and waits
until every one of them is back. Workers also do this by themselves within about a second
when Redis is flushed or restarted; the command is for operators who want it now, or want to
see it done.

``forget`` erases a campaign: it sends a forget request to the control topic (streams.control)
and waits for the worker that owns the campaign's partition to carry it out in a flush — state
cells, KPI-topic and alerts-topic keys tombstoned in the flush's transaction, Redis keys
deleted in a fenced call — and acknowledge it in Redis with what it removed. Then it sweeps
the campaign's Redis keys the worker did not know of, and prints the counts.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisClusterException, RedisError

from streams.config import Settings, redacted
from streams.connections import kafka_options, redis_client
from streams.control import ForgetRequest
from streams.kafka_store import partition_of
from streams.sinks.redis import (
    RedisSink,
    campaigns_key,
    flush_seq_key,
    forgotten_key,
)

_POLL_S = 0.2
_PROGRESS_EVERY_S: Final = 5.0
# Exit statuses of forget (README, "Personal data and erasure").
FORGET_DONE: Final = 0
FORGET_NO_ANSWER: Final = 1
FORGET_UNREACHABLE: Final = 2
FORGET_UNKNOWN: Final = 3


async def republish(
    client: Redis, campaign_ids: Sequence[str], timeout_s: float, progress: TextIO
) -> list[str]:
    """Ask the workers to rewrite these campaigns; return those not rewritten in time."""
    keys = [flush_seq_key(cid) for cid in campaign_ids]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])
    waiting = list(campaign_ids)
    deadline = time.monotonic() + timeout_s
    shown = -1
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_S)
        found = await client.exists(*(flush_seq_key(cid) for cid in waiting[:1]))
        if found:
            pipe = client.pipeline(transaction=False)
            for cid in waiting:
                pipe.exists(flush_seq_key(cid))
            present = await pipe.execute()
            waiting = [cid for cid, there in zip(waiting, present, strict=True) if not there]
        done = len(campaign_ids) - len(waiting)
        if done != shown:
            shown = done
            print(f"republish: {done}/{len(campaign_ids)} campaigns rewritten", file=progress)
    return waiting


def main(
    campaign_ids: Sequence[str], timeout_s: float, settings: Settings,
    out: TextIO | None = None,
) -> int:
    """``campaign-kpi republish``; exit 0 when every campaign was rewritten, 1 if not."""
    out = sys.stdout if out is None else out

    async def run() -> int:
        client = redis_client(settings, decode_responses=True)
        try:
            listed = await client.zrange(campaigns_key(), 0, -1)
            wanted = list(campaign_ids) or sorted(str(cid) for cid in listed)
            if not wanted:
                print(
                    "republish: Redis lists no campaign (kpi:campaigns is empty). If it lost "
                    "its data, running workers rewrite what they hold within a second; "
                    "nothing to ask for.", file=out,
                )
                return 0
            missing = await republish(client, wanted, timeout_s, out)
        finally:
            await client.aclose()
        if missing:
            print(
                f"republish: {len(missing)} campaigns were not rewritten within {timeout_s:g} s "
                f"(e.g. {', '.join(missing[:5])}): is a worker running for their partitions? "
                "Start one (campaign-kpi worker) and run this again.", file=out,
            )
            return 1
        print(f"republish: done, {len(wanted)} campaigns rewritten", file=out)
        return 0

    try:
        return asyncio.run(run())
    except (RedisError, OSError) as error:
        print(f"republish: cannot use Redis at {redacted(settings.redis_url)}: {error}",
              file=out)
        return 2


async def send_request(settings: Settings, request: ForgetRequest, timeout_s: float) -> int:
    """Produce a forget request to its campaign's partition of the control topic; its number.

    The partition is the one Kafka's default partitioner gives the campaign id among the
    control topic's partitions, as it does among each input topic's. A control topic that
    does not exist yet (no worker of this release started) is an error, not created here:
    a broker's default partition count would break co-partitioning.
    """
    from streams.report.sources import topic_partitions  # noqa: PLC0415 (Kafka reads)

    topic = settings.control_topic_name
    count = len(await topic_partitions(settings, topic, timeout_s))
    key, value = request.record()
    partition = partition_of(key, count)
    producer = AIOKafkaProducer(
        **kafka_options(settings), acks="all", enable_idempotence=True,
        request_timeout_ms=int(timeout_s * 1000),
    )
    await asyncio.wait_for(producer.start(), timeout_s)
    try:
        await asyncio.wait_for(
            producer.send_and_wait(topic, value, key=key, partition=partition), timeout_s
        )
    finally:
        await producer.stop()
    return partition


async def wait_acknowledged(
    client: Redis, request: ForgetRequest, timeout_s: float, progress: TextIO
) -> dict[str, int] | None:
    """The request's acknowledgement (counts by name) once a worker wrote it; None at timeout."""
    key = forgotten_key(request.campaign_id, request.request_id)
    started = time.monotonic()
    reported = started
    while True:
        found: Mapping[Any, Any] = await client.hgetall(key)
        if found:
            return {name: int(value) for name, value in found.items()}
        now = time.monotonic()
        if now - started >= timeout_s:
            return None
        if now - reported >= _PROGRESS_EVERY_S:
            reported = now
            print(f"forget: waiting for the worker ({now - started:.0f} s of {timeout_s:g} s)",
                  file=progress)
        await asyncio.sleep(_POLL_S)


def describe_erasure(campaign_id: str, partition: int, ack: Mapping[str, int], swept: int) -> str:
    """What was removed, one line per place."""
    if not ack["known"]:
        head = (f"forget: campaign {campaign_id} is unknown to the worker of partition "
                f"{partition} (no state held: never seen, or erased before)")
        if swept > 0:
            return f"{head}; {swept} Redis keys left from before were deleted"
        return f"{head}; nothing left in Redis either"
    redis_line = f"  Redis: {ack['redis_keys']} keys deleted"
    if ack["redis_keys"] < 0 or swept < 0:
        redis_line = ("  Redis: left as it is: records of the campaign that came after the "
                      "forget were written already (a new campaign state; forget it again "
                      "to erase that too)")
    elif swept:
        redis_line += f", and {swept} more the worker's state no longer knew"
    redis_line += (f"; {flush_seq_key(campaign_id)} stays at flush {ack['flush_seq']} "
                   "(it refuses a late write from before the erasure)")
    return "\n".join((
        f"forget: campaign {campaign_id} erased by the worker of partition {partition} "
        f"(flush {ack['flush_seq']}):",
        f"  state topic: {ack['state_cells']} cells deleted (tombstones)",
        f"  KPI topic: {ack['kpi_sets']} KPI sets deleted (tombstones)"
        + (f", and the {ack['kpi_past_retention']} windows of the spans the state dropped "
           "past their retention" if ack["kpi_past_retention"] else ""),
        f"  alerts topic: {ack['alert_keys']} alerts deleted (tombstones)",
        redis_line,
        "  Prometheus: the campaign's series are gone from the worker's /metrics",
    ))


def forget_main(
    campaign_id: str, timeout_s: float, settings: Settings, out: TextIO | None = None
) -> int:
    """``campaign-kpi forget``; exit statuses :data:`FORGET_DONE` and the others above."""
    out = sys.stdout if out is None else out
    request = ForgetRequest(campaign_id, uuid.uuid4().hex)

    async def run() -> int:
        partition = await send_request(settings, request, timeout_s)
        print(f"forget: request {request.request_id} for campaign {campaign_id} sent to "
              f"{settings.control_topic_name} partition {partition}; waiting for the worker "
              "that owns it", file=out)
        client = redis_client(settings, decode_responses=True)
        try:
            ack = await wait_acknowledged(client, request, timeout_s, out)
            if ack is None:
                print(
                    f"forget: no worker acknowledged the request within {timeout_s:g} s: is a "
                    f"worker running for partition {partition}, and can it reach Redis? The "
                    "request stays in the control topic and is carried out when one runs; "
                    "run this again to see it done.", file=out,
                )
                return FORGET_NO_ANSWER
            try:
                swept = await asyncio.wait_for(
                    RedisSink(settings, client=client).sweep(
                        campaign_id, request.request_id, ack["flush_seq"], ack["updated_at"]
                    ),
                    timeout_s,
                )
            except TimeoutError:  # the sink retries an outage until then
                raise RedisError(f"the sweep did not end within {timeout_s:g} s") from None
        finally:
            await client.aclose()
        print(describe_erasure(campaign_id, partition, ack, swept), file=out)
        return FORGET_DONE if ack["known"] else FORGET_UNKNOWN

    try:
        return asyncio.run(run())
    except LookupError as error:
        print(f"forget: {error}: start a worker of this release first (it creates the topic)",
              file=out)
    except (KafkaError, TimeoutError) as error:
        print(f"forget: cannot use Kafka at {settings.kafka_bootstrap}: {error!r}", file=out)
    except (RedisError, RedisClusterException, OSError) as error:
        print(f"forget: cannot use Redis at {redacted(settings.redis_url)}: {error}", file=out)
    return FORGET_UNREACHABLE
