"""The web view on a Redis Cluster: pages read the campaign's slot, updates are pushed live."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp

from streams.config import Settings
from streams.web.server import start_web_view
from streams.web.settings import WebSettings

from ..web.support import (
    Campaign,
    alert_record,
    kpi_sets_of,
    next_event,
    publish_alert,
    sse_events,
    write_sets,
)
from .redis_cluster import PrivateRedisCluster


async def _healthy(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    """/healthz once it answers 200 (Redis answers, the subscription is held), within 10 s."""
    body: dict[str, object] = {}
    for _ in range(100):
        async with session.get(url) as response:
            body = await response.json()
            if response.status == 200:
                return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"the web view never became healthy: {body}")


def _events(campaign: Campaign, impressions: int) -> list[dict[str, object]]:
    return [
        campaign.definition(),
        campaign.post("p-1", "inf-a"),
        campaign.impressions("p-1", "inf-a", impressions),
    ]


async def test_web_view_on_a_cluster_serves_pages_and_pushes_updates(
    redis_cluster: PrivateRedisCluster,
) -> None:
    redis_cluster.flushall()
    campaign = Campaign("cl-web-1", "awareness")
    await write_sets(redis_cluster.url, kpi_sets_of(_events(campaign, 300)), cluster=True)
    settings = replace(Settings(), redis_url=redis_cluster.url, redis_cluster=True)
    web = replace(WebSettings(), definitions=False, push_interval_s=0.05)
    view = await start_web_view(settings, web, bind="127.0.0.1", port=0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(view.url + f"campaigns/{campaign.campaign_id}") as response:
                assert response.status == 200
                assert "300" in await response.text()
            health = await _healthy(session, view.url + "healthz")
            assert health["redis"]
            assert health["subscribed"]
            page = sse_events(session, view.url + f"events?campaign={campaign.campaign_id}")
            kind, _ = await next_event(page, 10)
            assert kind == "snapshot"
            await write_sets(redis_cluster.url, kpi_sets_of(_events(campaign, 4321)),
                             cluster=True)
            kind, update = await next_event(page, 5)
            assert kind == "update"
            assert "4,321" in str(update["sections"]), update
            # The figures and the alerts are read in one transaction, in the campaign's slot.
            field_name, value = alert_record(campaign.campaign_id)
            await publish_alert(redis_cluster.url, campaign.campaign_id, field_name, value,
                                cluster=True)
            kind, update = await next_event(page, 5)
            assert kind == "update"
            assert "come from bots" in str(update["sections"]), update
            await page.aclose()
    finally:
        await view.stop()
