"""The web application over HTTP against the real Redis (database 13), no browser.

KPI sets are made by the worker's engine from events and written by the worker's Redis sink,
which also publishes their ``kpi:updates`` messages: the server sees what a worker writes.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from streams.config import Settings
from streams.web.app import CLIENT_NAME, HUB
from streams.web.server import RunningWebView, start_web_view
from streams.web.settings import WebSettings

from .support import (
    Campaign,
    alert_record,
    kpi_sets_of,
    next_event,
    publish_alert,
    sse_events,
    write_sets,
)

TOKEN = "t0ken-for-the-tests-0123456789"
BASIC = "viewer:correct-horse"


@asynccontextmanager
async def served(redis_url: str, **web_changes: Any) -> AsyncIterator[RunningWebView]:
    """The web view in this process, on a free port (the demo's way of starting it)."""
    settings = replace(Settings(), redis_url=redis_url)
    web = replace(WebSettings(), definitions=False, push_interval_s=0.05, **web_changes)
    view = await start_web_view(settings, web, bind="127.0.0.1", port=0)
    try:
        yield view
    finally:
        await view.stop()


def _campaign_events(campaign: Campaign, impressions: int) -> list[dict[str, Any]]:
    return [
        campaign.definition(),
        campaign.post("p-1", "inf-a"),
        campaign.post("p-2", "inf-b"),
        campaign.impressions("p-1", "inf-a", impressions),
        campaign.impressions("p-2", "inf-b", 50),
        campaign.click("lnk-a", "inf-a", bot=False),
    ]


async def _seed(redis_url: str) -> dict[str, Campaign]:
    campaigns = {
        "aw-1": Campaign("aw-1", "awareness"),
        "aw-2": Campaign("aw-2", "awareness"),
        "cv-1": Campaign("cv-1", "conversion"),
    }
    events = [e for c in campaigns.values() for e in _campaign_events(c, 1000)]
    await write_sets(redis_url, kpi_sets_of(events))
    return campaigns


async def test_list_page_groups_campaigns_by_objective(redis_url: str) -> None:
    await _seed(redis_url)
    async with served(redis_url) as view, aiohttp.ClientSession() as session, \
            session.get(view.url) as response:
        assert response.status == 200
        html = await response.text()
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    awareness = html[html.index('id="group-awareness"'):html.index('id="group-engagement"')]
    conversion = html[html.index('id="group-conversion"'):html.index('id="group-none"')]
    assert "aw-1" in awareness
    assert "aw-2" in awareness
    assert "cv-1" not in awareness
    assert "cv-1" in conversion
    assert "aw-1" not in conversion
    assert awareness.index("aw-1") < awareness.index("aw-2")  # by id, not by figures


async def test_campaign_page_has_every_section_and_the_api_the_same_data(
    redis_url: str,
) -> None:
    await _seed(redis_url)
    async with served(redis_url) as view, aiohttp.ClientSession() as session:
        async with session.get(view.url + "campaigns/aw-1") as response:
            assert response.status == 200
            html = await response.text()
        for section in ("summary", "alerts", "headline", "charts", "leaderboard", "content",
                        "quality", "report"):
            assert f'id="{section}"' in html, section
        assert 'data-stream="/events?campaign=aw-1"' in html
        async with session.get(view.url + "api/campaigns/aw-1") as response:
            data = await response.json()
        entries = {e["kpi"]: e for e in data["headline"]["entries"]}
        assert entries["impressions"]["text"] == "1,050"
        assert data["leaderboard"]["kpi"] == "reach"
        async with session.get(view.url + "campaigns/no-such-campaign") as response:
            assert response.status == 404
        async with session.post(view.url) as response:
            assert response.status == 405  # read-only
        async with session.head(view.url + "campaigns/aw-1") as response:
            assert response.status == 200


async def test_a_stream_gets_a_snapshot_then_the_sections_a_flush_changed(
    redis_url: str,
) -> None:
    campaigns = await _seed(redis_url)
    campaign = campaigns["aw-1"]
    async with served(redis_url) as view, aiohttp.ClientSession() as session:
        stream = sse_events(session, view.url + "events?campaign=aw-1")
        kind, snapshot = await next_event(stream, 10)
        assert kind == "snapshot"
        assert "1,050" in snapshot["sections"]["headline"]
        assert snapshot["charts"]["windows"]["1m"]["points"]
        more = [*_campaign_events(campaign, 1000), campaign.impressions("p-1", "inf-a", 4000)]
        started = time.monotonic()
        await write_sets(redis_url, [s for s in kpi_sets_of(more) if s.campaign_id == "aw-1"])
        kind, update = await next_event(stream, 5)
        took = time.monotonic() - started
        assert kind == "update"
        assert "5,050" in update["sections"]["headline"]
        assert "report" not in update["sections"]  # unchanged sections are not sent again
        assert update["points"]["1m"][-1][1] == 5050
        assert took < 2.0
        await stream.aclose()


async def test_one_redis_subscription_whatever_the_number_of_streams(redis_url: str) -> None:
    await _seed(redis_url)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    async with served(redis_url) as view, aiohttp.ClientSession() as session:
        name = view.runner.app[CLIENT_NAME]
        streams = [
            sse_events(session, view.url + ("events" if i % 3 == 0 else
                                            f"events?campaign=aw-{1 + i % 2}"))
            for i in range(24)
        ]
        for stream in streams:
            kind, _ = await next_event(stream, 10)
            assert kind == "snapshot"
        ours = [c for c in await client.client_list() if c.get("name") == name]
        subscribed = [c for c in ours if int(c.get("sub", 0)) or int(c.get("psub", 0))]
        assert len(subscribed) == 1, ours
        assert view.runner.app[HUB].subscriptions_opened == 1
        assert len(view.runner.app[HUB].viewers()) == 24
        await write_sets(redis_url, kpi_sets_of(_campaign_events(Campaign("aw-2"), 7000)))
        kinds = await asyncio.gather(*(next_event(s, 5) for s in streams[0:2]))  # list, aw-2
        assert {k for k, _ in kinds} == {"update"}
        for stream in streams:
            await stream.aclose()
    await client.aclose()


async def test_an_alert_record_of_the_documented_shape_is_pushed_to_both_pages(
    redis_url: str,
) -> None:
    await _seed(redis_url)
    async with served(redis_url) as view, aiohttp.ClientSession() as session:
        page = sse_events(session, view.url + "events?campaign=cv-1")
        listing = sse_events(session, view.url + "events")
        await next_event(page, 10)
        await next_event(listing, 10)
        field, value = alert_record("cv-1", severity="critical")
        await publish_alert(redis_url, "cv-1", field, value)
        _, update = await next_event(page, 5)
        assert "bot clicks" in update["sections"]["alerts"]
        assert "34 % of 120 clicks" in update["sections"]["alerts"]
        _, listed = await next_event(listing, 5)
        assert "sev-critical" in listed["sections"]["group-conversion"]
        resolved_field, resolved = alert_record(
            "cv-1", state="resolved", resolved_at=int(time.time() * 1000)
        )
        await publish_alert(redis_url, "cv-1", resolved_field, resolved)
        _, update = await next_event(page, 5)
        assert "fired and cleared" in update["sections"]["alerts"]
        await page.aclose()
        await listing.aclose()


async def test_basic_auth_and_bearer_token(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await _seed(redis_url)
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    # unsafe: keep cookies of an IP-address host, as browsers do.
    async with served(redis_url, basic_auth=BASIC, token=TOKEN) as view, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(view.url) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        async with session.get(view.url + "healthz") as response:
            assert response.status == 200  # for probes, and it tells nothing of campaigns
        basic = "Basic " + base64.b64encode(BASIC.encode()).decode()
        async with session.get(view.url, headers={"Authorization": basic}) as response:
            assert response.status == 200
            html = await response.text()
        async with session.get(view.url, headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 401
        async with session.get(view.url, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200
        async with session.get(view.url + f"campaigns/aw-1?token={TOKEN}",
                               allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/campaigns/aw-1"
            cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie
            assert "SameSite=Strict" in cookie
        async with session.get(view.url + "campaigns/aw-1") as response:  # the cookie now
            assert response.status == 200
            assert "Cookie" in response.headers["Vary"]
        events = sse_events(session, view.url + "events?campaign=aw-1")
        assert (await next_event(events, 10))[0] == "snapshot"
        await events.aclose()
    for secret in (TOKEN, "correct-horse"):
        assert secret not in html
        assert secret not in caplog.text


async def test_caching_headers_of_assets_pages_and_streams(redis_url: str) -> None:
    await _seed(redis_url)
    async with served(redis_url) as view, aiohttp.ClientSession() as session:
        async with session.get(view.url + "campaigns/aw-1") as response:
            html = await response.text()
        start = html.index("/static/")
        asset = html[start:html.index('"', start)]
        async with session.get(view.url.rstrip("/") + asset) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert response.headers["ETag"]
        wrong = asset.replace("/static/", "/static/0000")
        async with session.get(view.url.rstrip("/") + wrong) as response:
            assert response.status == 404
        async with session.get(view.url + "events") as response:
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["Content-Type"].startswith("text/event-stream")


async def test_report_link_and_file_when_a_report_was_written(
    redis_url: str, tmp_path: Path
) -> None:
    await _seed(redis_url)
    async with served(redis_url, reports_dir=str(tmp_path)) as view, \
            aiohttp.ClientSession() as session:
        async with session.get(view.url + "api/campaigns/aw-1") as response:
            report = (await response.json())["report"]
        assert report["html_url"] is None
        assert report["command"] == (
            f"campaign-kpi report aw-1 --out {tmp_path / 'report-aw-1.html'}"
        )
        (tmp_path / "report-aw-1.html").write_text("<html><body>the report</body></html>")
        async with session.get(view.url + "campaigns/aw-1") as response:
            assert 'href="/report.html?campaign=aw-1"' in await response.text()
        async with session.get(view.url + "report.html?campaign=aw-1") as response:
            assert response.status == 200
            assert "the report" in await response.text()
            assert response.headers["Cache-Control"] == "no-cache"
            assert "Last-Modified" in response.headers
            assert "script-src" not in response.headers["Content-Security-Policy"]
        async with session.get(view.url + "report.html?campaign=../aw-1") as response:
            assert response.status == 404


async def test_a_lost_subscription_is_reopened_and_pages_get_a_new_snapshot(
    redis_url: str,
) -> None:
    await _seed(redis_url)
    async with served(redis_url) as view, aiohttp.ClientSession() as session, \
            aioredis.Redis.from_url(redis_url, decode_responses=True) as client:
        stream = sse_events(session, view.url + "events?campaign=aw-1")
        assert (await next_event(stream, 10))[0] == "snapshot"
        name = view.runner.app[CLIENT_NAME]
        for entry in await client.client_list():
            if entry.get("name") == name and int(entry.get("sub", 0)):
                await client.client_kill_filter(_id=entry["id"])
        kind, snapshot = await next_event(stream, 10)
        assert kind == "snapshot"  # read whole again: what was sent meanwhile is not lost
        assert "1,050" in snapshot["sections"]["headline"]
        assert view.runner.app[HUB].subscriptions_opened == 2
        await write_sets(redis_url, kpi_sets_of(_campaign_events(Campaign("aw-1"), 9000)))
        kind, update = await next_event(stream, 5)
        assert kind == "update"
        assert "9,050" in update["sections"]["headline"]
        await stream.aclose()
