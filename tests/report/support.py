"""Real KPI sets for report tests: simulate -> replay (the worker's engine) -> Redis sink."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aioredis

from streams import codec
from streams.config import Settings
from streams.domain.engine import KpiSet
from streams.replay import Replay, read_lines
from streams.replay import run as replay_run
from streams.simulate import SimConfig, write_file
from streams.sinks import Flush
from streams.sinks.redis import RedisSink

REPORT_DB = 12
# A fixed launch in the past: the same records, hence the same KPI sets, on every run.
LAUNCH = "2025-03-03T08:00:00Z"
SIM = SimConfig(seed=14, campaigns=3, influencers=5, max_tier="nano", days=2.0,
                start_us=codec.parse_time(LAUNCH))


@dataclass(frozen=True)
class Simulated:
    """The simulator's JSON Lines and what the replay made of them."""

    lines: bytes
    replay: Replay

    @property
    def kpi_sets(self) -> list[KpiSet]:
        return list(self.replay.engine.all_sets())

    def sets_of(self, campaign_id: str) -> list[KpiSet]:
        return [s for s in self.kpi_sets if s.campaign_id == campaign_id]

    def kpis(self, campaign_id: str, scope: str = "campaign", scope_id: str | None = None,
             window: str = "all", start: int | None = None) -> dict[str, object]:
        sid = campaign_id if scope == "campaign" else scope_id
        for s in self.kpi_sets:
            if (s.campaign_id, s.scope, s.scope_id, s.window, s.window_start) == (
                campaign_id, scope, sid, window, start
            ):
                return s.kpis
        raise KeyError((campaign_id, scope, scope_id, window, start))

    def definition_lines(self, campaign_id: str) -> bytes:
        """The campaigns records of one campaign (replay format)."""
        out = []
        for line in self.lines.splitlines():
            obj = codec.loads(line)
            if obj.get("topic") == "campaigns" and obj.get("key") == campaign_id:
                out.append(line)
        return b"\n".join(out) + b"\n"

    def dead_letters(self) -> list[dict[str, Any]]:
        return [codec.loads(record) for record in self.replay.dead_letters]


def simulate(config: SimConfig = SIM, settings: Settings | None = None) -> Simulated:
    """Simulate to JSON Lines in memory and replay them with the engine the worker runs."""
    settings = settings or Settings()
    buffer = io.BytesIO()
    write_file(config, buffer)
    lines = buffer.getvalue()
    replay = replay_run(read_lines(io.BytesIO(lines)), settings)
    return Simulated(lines, replay)


def database_url(redis_url: str, db: int = REPORT_DB) -> str:
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    return f"{base}/{db}"


async def write_sets(settings: Settings, kpi_sets: Iterable[KpiSet],
                     updated_at_ms: int = 1_741_500_000_000) -> None:
    """Write KPI sets to Redis through the worker's Redis sink (one flush)."""
    sink = RedisSink(settings)
    await sink.start()
    try:
        await sink.write(Flush(list(kpi_sets), updated_at_ms))
    finally:
        await sink.stop()


async def flush_database(settings: Settings) -> None:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def renamed(kpi_sets: Sequence[KpiSet], campaign_id: str, **kpi_changes: object) -> list[KpiSet]:
    """The same sets under another campaign id (campaign-scope ids follow), KPIs changed."""
    result = []
    for s in kpi_sets:
        sid = campaign_id if s.scope == "campaign" else s.scope_id
        kpis = dict(s.kpis)
        if s.scope == "campaign" and s.window == "all":
            kpis.update(kpi_changes)
        result.append(replace(s, campaign_id=campaign_id, scope_id=sid, kpis=kpis))
    return result
