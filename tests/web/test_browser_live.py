"""The web view in a real browser: headless Chromium (Debian package) driven by Playwright.

Against ``campaign-kpi serve`` (a subprocess, as a user runs it) on the real Redis, with a
``campaign-kpi worker`` and ``campaign-kpi simulate`` running on topics of this module's own
prefix. Beside the simulated campaigns, the tests produce a quiet campaign of their own, so
that one event's way to the page — producer, Kafka, worker, Redis, kpi:updates, the server,
the event stream, the DOM — can be timed. Screenshots are saved under each test's tmp dir;
every page must load without a console error and without a request to any other host.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from streams import codec
from streams.config import Settings
from streams.kpi_view import read_kpis
from streams.topics import ensure_topics

from ..integration.support import KafkaAdmin
from .support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    WEB_DB,
    Campaign,
    Process,
    base_env,
    database_url,
    free_port,
    topic_of,
    wait_healthy,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

LATENCY_SAMPLES = 8
UPDATE_BOUND_S = 2.0  # issue 15: a figure changes on the page within 2 s of the event


@dataclass
class Stack:
    """The services of this module: worker, simulator and web view on one prefix."""

    run: str
    url: str
    settings: Settings
    redis_url: str
    processes: list[Process]
    producer: AIOKafkaProducer
    simulated: list[str] = field(default_factory=list)

    async def produce(self, *events: dict[str, Any]) -> None:
        for event in events:
            await self.producer.send_and_wait(
                self.settings.topic(topic_of(event)), codec.dumps(event),
                key=event["campaign_id"].encode(), timestamp_ms=int(time.time() * 1000),
            )

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.tail()}" for p in self.processes)


async def _wait(predicate: Any, timeout_s: float, what: str, stack: Stack | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        if stack is not None and any(p.popen.poll() is not None for p in stack.processes):
            break  # one of them died: waiting longer cannot help
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout_s}s\n{stack.logs() if stack else ''}")


async def _wait_defined(stack: Stack, campaign: Campaign) -> None:
    async with aioredis.Redis.from_url(stack.redis_url) as client:

        async def defined() -> bool:
            kpis = await read_kpis(client, campaign.campaign_id)
            return kpis is not None and kpis.get("objective") == campaign.objective

        await _wait(defined, 60, f"the definition of {campaign.campaign_id} is processed",
                    stack)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    kafka, redis_url = services
    logs = tmp_path_factory.mktemp("web-stack")
    run = f"web-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    env = base_env(
        KAFKA_BOOTSTRAP=kafka, REDIS_URL=database_url(redis_url, WEB_DB), KPI_APP_ID=run,
        KPI_TOPIC_PREFIX=f"{run}-", KPI_PARTITIONS="2", KPI_FLUSH_INTERVAL_S="0.2",
        KPI_SESSION_TIMEOUT_S="6",
    )
    settings = Settings.from_env(env)
    await ensure_topics(settings)
    port = free_port()
    processes = [
        Process(["worker"], {**env, "KPI_WEB_PORT": str(free_port()),
                             "KPI_DATA_DIR": str(logs / "worker-data")}, logs / "worker.log"),
        Process(["serve"], {**env, "WEB_VIEW_PORT": str(port), "WEB_VIEW_PUSH_INTERVAL_S": "0.1",
                            "WEB_VIEW_REPORTS_DIR": str(logs / "reports"),
                            "WEB_VIEW_DEFINITIONS_REFRESH_S": "5"}, logs / "serve.log"),
        Process(["simulate", "--speed", "600", "--rate", "250", "--campaigns", "3",
                 "--influencers", "4", "--max-tier", "micro", "--days", "2", "--seed", "15",
                 "--id-prefix", f"{run}-s"], env, logs / "simulate.log"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    stack = Stack(run, f"http://127.0.0.1:{port}/", settings, env["REDIS_URL"], processes,
                  producer)
    try:
        await wait_healthy(stack.url, processes[1])

        async def three_campaigns() -> bool:
            return int(await client.zcard("kpi:campaigns")) >= 3

        await _wait(three_campaigns, 120, "the worker wrote the simulated campaigns", stack)
        members: list[Any] = await client.zrange("kpi:campaigns", 0, -1)
        stack.simulated = sorted(m.decode() for m in members)
        yield stack
    finally:
        await producer.stop()
        for process in processes:
            process.stop()
        await client.aclose()
        admin = KafkaAdmin(kafka)
        await admin.start()
        admin.created.extend([
            *settings.logical_topics(), settings.state_topic_name, settings.kpi_topic_name,
            settings.dlq_topic_name, f"{run}-__assignor-__leader",
        ])
        await admin.close()


@dataclass
class Browser:
    context: Any
    base: str
    errors: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)

    async def page(self) -> Any:
        page = await self.context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page


@asynccontextmanager
async def chromium(tmp_path: Path, base: str) -> AsyncIterator[Browser]:
    """The Debian Chromium, headless, a fresh profile; any request off this server fails."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900},
        )
        browser = Browser(context, base)

        async def only_ours(route: Any) -> None:
            if route.request.url.startswith(base):
                await route.continue_()
            else:
                browser.elsewhere.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_ours)
        try:
            yield browser
        finally:
            await context.close()


def _value(kpi: str, section: str = "#headline") -> str:
    return f"{section} tr[data-kpi='{kpi}'] .value"


async def _text(page: Any, selector: str) -> str:
    return str(await page.locator(selector).first.text_content()).strip()


async def test_pages_show_campaigns_by_objective_and_follow_new_events_without_reload(
    stack: Stack, tmp_path: Path
) -> None:
    quiet = Campaign(f"{stack.run}-quiet", "awareness")
    await stack.produce(quiet.definition())
    await _wait_defined(stack, quiet)
    await stack.produce(quiet.post("q-1", "inf-a"), quiet.impressions("q-1", "inf-a", 100))
    latencies: list[float] = []
    async with chromium(tmp_path, stack.url) as browser:
        page = await browser.page()
        await page.goto(stack.url)
        for cid in stack.simulated:
            objective = cid.rsplit("-", 1)[-1]
            row = page.locator(f"#group-{objective} tr[data-campaign='{cid}']")
            await row.wait_for(timeout=10_000)
        for cid in stack.simulated:  # and never in another objective's group
            assert await page.locator(f"tr[data-campaign='{cid}']").count() == 1
        await page.locator(f"#group-awareness tr[data-campaign='{quiet.campaign_id}']").wait_for(
            timeout=10_000
        )
        await page.screenshot(path=str(tmp_path / "campaigns.png"), full_page=True)

        # A simulated campaign's page follows the simulator's events (interactions are
        # most of them, so impressions move every few flushes).
        awareness = next(c for c in stack.simulated if c.endswith("awareness"))
        await page.goto(stack.url + f"campaigns/{awareness}")
        await page.evaluate("window.__sameDocument = 42")
        await page.locator("#live-status.live-on").wait_for(timeout=10_000)
        before = await _text(page, _value("impressions"))
        await page.wait_for_function(
            "([sel, old]) => document.querySelector(sel).textContent.trim() !== old",
            arg=[_value("impressions"), before], timeout=15_000,
        )
        assert await page.evaluate("window.__sameDocument") == 42  # updated, not reloaded
        await page.screenshot(path=str(tmp_path / "campaign-simulated.png"), full_page=True)

        # The timed way of one event: produced, then shown.
        await page.goto(stack.url + f"campaigns/{quiet.campaign_id}")
        await page.evaluate("window.__sameDocument = 42")
        await page.locator("#live-status.live-on").wait_for(timeout=10_000)
        await page.locator(_value("impressions")).wait_for(timeout=10_000)
        await page.wait_for_function(
            "sel => document.querySelector(sel).textContent.trim() === '100'",
            arg=_value("impressions"), timeout=10_000,
        )
        total = 100
        for i in range(LATENCY_SAMPLES):
            count = 10 + i
            total += count
            expected = f"{total:,}"
            started = time.monotonic()
            await stack.produce(quiet.impressions("q-1", "inf-a", count))
            await page.wait_for_function(
                "([sel, want]) => document.querySelector(sel).textContent.trim() === want",
                arg=[_value("impressions"), expected], polling="raf", timeout=10_000,
            )
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.3)
        assert await page.evaluate("window.__sameDocument") == 42
        # The schedule came from the campaigns topic: the page paces the targets.
        await page.locator("#summary", has_text="running").wait_for(timeout=20_000)
        await page.locator(
            "#headline tr[data-kpi='impressions'] .status"
        ).first.wait_for(timeout=10_000)
        await page.screenshot(path=str(tmp_path / "campaign-quiet.png"), full_page=True)
        assert browser.errors == []
        assert browser.elsewhere == []
    report = {
        "samples_s": [round(x, 3) for x in latencies],
        "p50_s": round(statistics.median(latencies), 3),
        "max_s": round(max(latencies), 3),
    }
    (tmp_path / "latency.json").write_text(json.dumps(report))
    print(f"\nupdate latency, event produced -> figure changed in Chromium: {report}")
    print(f"screenshots: {tmp_path}")
    assert max(latencies) < UPDATE_BOUND_S, report


async def test_the_workers_bot_clicks_alert_appears_live_on_both_pages(
    stack: Stack, tmp_path: Path
) -> None:
    """A link flooded with bot clicks: the worker raises the alert, the pages show it.

    The clicks are produced to Kafka and counted by the real worker, which evaluates its alert
    rules at the flush and writes the record to ``kpi:{<cid>}:alerts`` in the campaign's
    Redis call, announced on ``kpi:updates``; the campaign page and the list show it without a
    reload, within the bound of every other update.
    """
    flooded = Campaign(f"{stack.run}-flood", "conversion")
    await stack.produce(flooded.definition())
    await _wait_defined(stack, flooded)
    await stack.produce(flooded.post("f-1", "inf-a"), flooded.impressions("f-1", "inf-a", 900))
    field_name = "bot_clicks|link|lnk-a"
    async with chromium(tmp_path, stack.url) as browser:
        listing = await browser.page()
        await listing.goto(stack.url)
        page = await browser.page()
        await page.goto(stack.url + f"campaigns/{flooded.campaign_id}")
        await page.evaluate("window.__sameDocument = 42")
        await page.locator("#live-status.live-on").wait_for(timeout=10_000)
        assert await page.locator(f"#alerts li[data-alert='{field_name}']").count() == 0
        started = time.monotonic()
        await stack.produce(
            *(flooded.click("lnk-a", "inf-a", bot=True) for _ in range(60)),
            *(flooded.click("lnk-a", "inf-a", bot=False) for _ in range(10)),
        )
        alert = page.locator(f"#alerts li[data-alert='{field_name}']")
        await alert.wait_for(timeout=15_000)
        shown_s = time.monotonic() - started
        # The clicks may span two flushes: the alert is raised at the first, updated at the next.
        await page.locator(
            f"#alerts li[data-alert='{field_name}']", has_text="of the 70 clicks"
        ).wait_for(timeout=10_000)
        text = await _text(page, "#alerts")
        assert "86% of the 70 clicks on link lnk-a come from bots" in text, text
        assert "critical" in text  # more than half of the clicks
        # Read with the alert in one transaction: the table counts the clicks the alert does.
        assert await _text(page, "#quality tr[data-kpi='clicks_bot'] td.num") == "60"
        await listing.locator(
            f"#group-conversion tr[data-campaign='{flooded.campaign_id}'] .badge.sev-critical"
        ).wait_for(timeout=5_000)
        assert await page.evaluate("window.__sameDocument") == 42
        await page.screenshot(path=str(tmp_path / "campaign-alert.png"), full_page=True)
        await listing.screenshot(path=str(tmp_path / "campaigns-alert.png"), full_page=True)
        assert browser.errors == []
        assert browser.elsewhere == []
    print(f"\nalert shown {shown_s:.3f}s after the clicks were produced; screenshots: {tmp_path}")
    assert shown_s < UPDATE_BOUND_S + 1.0  # the worker's flush interval (1 s) comes first
