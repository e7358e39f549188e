"""Helpers of the web view tests: real KPI sets, alert records, servers, SSE, Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from streams import codec
from streams.config import Settings
from streams.connections import redis_client
from streams.domain.engine import Engine, KpiSet
from streams.domain.vocabulary import Topic
from streams.kpi_view import alerts_key
from streams.processing import apply_record
from streams.sinks import Flush
from streams.sinks.redis import UPDATES_CHANNEL, RedisSink

WEB_DB = 13
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CAMPAIGN_BIN = str(Path(sys.executable).with_name("campaign-kpi"))


def database_url(redis_url: str, db: int = WEB_DB) -> str:
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    return f"{base}/{db}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + "Z"


# --------------------------------------------------------------------------------------------
# Input events (contract 1) of a small campaign the test controls


@dataclass
class Campaign:
    """A campaign the test produces itself: its definition, then posts, interactions, clicks."""

    campaign_id: str
    objective: str = "awareness"
    starts_s: float = field(default_factory=lambda: time.time() - 3600)
    ends_s: float = field(default_factory=lambda: time.time() + 86_400)
    counter: int = 0

    def _event(self, kind: str, at_s: float | None = None, **fields: Any) -> dict[str, Any]:
        self.counter += 1
        return {
            "event_id": f"{self.campaign_id}-{kind}-{self.counter}-{uuid.uuid4().hex[:6]}",
            "type": kind,
            "occurred_at": iso(time.time() if at_s is None else at_s),
            "campaign_id": self.campaign_id,
            **fields,
        }

    def definition(self) -> dict[str, Any]:
        targets = {
            "awareness": {"impressions": 5000, "reach": 2000, "cpm_minor": 900},
            "engagement": {"engagements": 500},
            "conversion": {"orders": 50, "clicks_valid": 400},
        }[self.objective]
        return self._event(
            "campaign", at_s=self.starts_s, name=f"Test {self.campaign_id}", brand="Acme",
            objective=self.objective, starts_at=iso(self.starts_s), ends_at=iso(self.ends_s),
            currency="EUR", budget_minor=500_000, targets=targets,
            influencers=[
                {"influencer_id": "inf-a", "tier": "micro", "link_ids": ["lnk-a"]},
                {"influencer_id": "inf-b", "tier": "nano", "link_ids": ["lnk-b"]},
            ],
        )

    def post(self, post_id: str, influencer_id: str, followers: int = 20_000) -> dict[str, Any]:
        return self._event(
            "post_published", post_id=post_id, influencer_id=influencer_id,
            platform="instagram", format="reel", followers=followers, cost_minor=50_000,
        )

    def impressions(self, post_id: str, influencer_id: str, count: int) -> dict[str, Any]:
        return self._event(
            "interaction", post_id=post_id, influencer_id=influencer_id, action="impression",
            viewer_id=f"v-{uuid.uuid4().hex[:10]}", count=count,
        )

    def click(self, link_id: str, influencer_id: str, *, bot: bool) -> dict[str, Any]:
        agent = (
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)" if bot
            else "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)"
        )
        return self._event(
            "click", link_id=link_id, influencer_id=influencer_id, channel="link",
            visitor_id=f"vis-{uuid.uuid4().hex[:10]}", user_agent=agent,
        )


_TOPIC_OF = {
    "campaign": "campaigns", "post_published": "posts", "interaction": "interactions",
    "click": "clicks", "order": "orders", "content_review": "content-reviews",
}


def topic_of(event: dict[str, Any]) -> str:
    return _TOPIC_OF[event["type"]]


def kpi_sets_of(events: Iterable[dict[str, Any]]) -> list[KpiSet]:
    """The KPI sets the worker's engine makes of these events (as the replay would)."""
    engine = Engine()
    now_ms = int(time.time() * 1000)
    for event in events:
        value = codec.dumps(event)
        outcome, _ = apply_record(
            engine, Topic(topic_of(event)), event["campaign_id"].encode(), value, now_ms
        )
        assert outcome == "counted", (outcome, event)
    return list(engine.all_sets())


async def write_sets(redis_url: str, kpi_sets: Sequence[KpiSet], *, cluster: bool = False) -> None:
    """Write KPI sets through the worker's own Redis sink: hashes, indexes, kpi:updates."""
    sink = RedisSink(replace(Settings(), redis_url=redis_url, redis_cluster=cluster))
    await sink.start()
    try:
        await sink.write(Flush(list(kpi_sets), int(time.time() * 1000)))
    finally:
        await sink.stop()


# --------------------------------------------------------------------------------------------
# Alerts, in the shape fixed for the worker (notes/alerts.md)


def alert_record(
    campaign_id: str, *, rule: str = "bot_clicks", scope: str = "link", scope_id: str = "lnk-a",
    severity: str = "warning", state: str = "open", message: str | None = None,
    figures: dict[str, object] | None = None, first_seen: int | None = None,
    resolved_at: int | None = None,
) -> tuple[str, bytes]:
    """(hash field, JSON value) of one alert record of the documented shape."""
    now = int(time.time() * 1000)
    figures = figures or {"clicks": 120, "clicks_bot": 41, "bot_share": 0.3417,
                          "threshold": 0.15}
    value = {
        "campaign_id": campaign_id, "rule": rule, "scope": scope, "scope_id": scope_id,
        "severity": severity, "state": state,
        "message": message or f"Link {scope_id}: 34 % of 120 clicks come from bots (above 15 %).",
        "figures": figures, "first_seen": first_seen or now - 300_000, "last_seen": now,
        "resolved_at": resolved_at,
    }
    return f"{rule}|{scope}|{scope_id}", codec.dumps(value)


async def publish_alert(
    redis_url: str, campaign_id: str, field_name: str, value: bytes, *, cluster: bool = False
) -> None:
    """Write an alert and announce it as the worker will (kpi:updates lists the alerts key)."""
    client = redis_client(replace(Settings(), redis_url=redis_url, redis_cluster=cluster))
    try:
        key = alerts_key(campaign_id)
        await client.hset(key, field_name, value)
        message = {"campaign_id": campaign_id, "keys": [key]}
        await client.publish(UPDATES_CHANNEL, codec.dumps(message))
    finally:
        await client.aclose()


# --------------------------------------------------------------------------------------------
# Server-Sent Events


async def sse_events(
    session: aiohttp.ClientSession, url: str, *, headers: dict[str, str] | None = None
) -> AsyncGenerator[tuple[str, Any], None]:
    """(event, parsed data) of a stream, as a browser's EventSource would split them."""
    async with session.get(url, headers=headers) as response:
        assert response.status == 200, response.status
        assert response.headers["Content-Type"].startswith("text/event-stream")
        event, data = "message", list[str]()
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if data:
                    yield event, codec.loads("\n".join(data))
                event, data = "message", []
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])


async def next_event(stream: AsyncIterator[tuple[str, Any]], timeout_s: float) -> tuple[str, Any]:
    return await asyncio.wait_for(anext(stream), timeout_s)


# --------------------------------------------------------------------------------------------
# Processes


class Process:
    """A ``campaign-kpi`` subprocess logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                ["nice", CAMPAIGN_BIN, *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_VIEW_", "KPI_"))}
    env.update(extra)
    return env


async def wait_healthy(url: str, process: Process, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise AssertionError(f"serve exited:\n{process.tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url + "healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise AssertionError(f"serve not healthy in {timeout_s}s:\n{process.tail()}")
