"""Operator commands: ``campaign-kpi republish``.

``republish`` makes the running workers write campaigns' KPI sets into Redis again, from the
state they hold (which is what Kafka committed): it deletes the campaigns' ``flush_seq``
keys, which is how a worker recognises a campaign Redis lost (streams.sinks.redis), and waits
until every one of them is back. Workers also do this by themselves within about a second
when Redis is flushed or restarted; the command is for operators who want it now, or want to
see it done.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from redis.asyncio import Redis
from redis.exceptions import RedisError

from streams.config import Settings, redacted
from streams.connections import redis_client
from streams.sinks.redis import campaigns_key, flush_seq_key

_POLL_S = 0.2


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
