"""Campaign alerts from a real worker: Redis, the alerts topic, /metrics, and the replay agree.

A conversion campaign whose tracked link is flooded by link-preview bots, and one of whose
influencers' promo code is used with no click from them: the worker must open `bot_clicks`
and `leaked_code`, write them to `kpi:{<cid>}:alerts` and the compacted alerts topic, show
them on /metrics, and the replay's event-time evaluation must raise the same ones.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from streams import codec
from streams.sinks.redis import alerts_key

from .worker_harness import Harness, InputRecord, Produced

CID = "alert-demo"
T0 = 1_780_000_000  # epoch seconds, inside the campaign


def _iso(seconds: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(topic: str, body: dict[str, Any], at_s: int) -> InputRecord:
    body = {"event_id": f"{topic}-{at_s}-{len(body)}-{body.get('link_id', '')}", **body,
            "campaign_id": CID, "occurred_at": _iso(at_s)}
    return InputRecord(topic, CID.encode(), codec.dumps(body), at_s * 1000 + 1000)


def records() -> list[InputRecord]:
    definition = _record("campaigns", {
        "type": "campaign", "name": "Alerts", "objective": "conversion", "currency": "EUR",
        "starts_at": _iso(T0 - 86400), "ends_at": _iso(T0 + 9 * 86400),
        "influencers": [
            {"influencer_id": "i1", "link_ids": ["l1"]},
            {"influencer_id": "i2", "promo_codes": ["LEAK20"]},
        ],
    }, T0 - 3600)
    out = [definition]
    for i in range(80):  # 70 previews and 10 humans on l1: 87.5 % bots
        agent = "facebookexternalhit/1.1" if i < 70 else "Mozilla/5.0 (iPhone)"
        out.append(_record("clicks", {
            "type": "click", "event_id": f"c{i}", "link_id": "l1", "influencer_id": "i1",
            "channel": "link", "user_agent": agent, "visitor_id": f"v{i}",
        }, T0 + i))
    for i in range(6):  # i2's code, and i2 never got a click
        out.append(_record("orders", {
            "type": "order", "event_id": f"o{i}", "order_id": f"o{i}", "amount_minor": 2500,
            "currency": "EUR", "promo_code": "leak20",
        }, T0 + 100 + i))
    return out


async def test_a_bot_flood_and_a_leaked_code_raise_alerts_everywhere(
    harness: Harness, tmp_path: Path
) -> None:
    inputs = records()
    worker = harness.start_worker()
    produced = Produced()
    await harness.produce(inputs[:1], produced)
    await harness.wait_processed()
    await harness.produce(inputs[1:], produced)
    await harness.wait_processed()

    client = aioredis.from_url(harness.redis_url)
    try:
        raw: Any = await client.hgetall(alerts_key(CID))
        stored = {field.decode(): codec.loads(value) for field, value in raw.items()}
    finally:
        await client.aclose()
    assert set(stored) == {"bot_clicks|link|l1", "leaked_code|influencer|i2"}
    assert stored["bot_clicks|link|l1"]["figures"]["bot_share"] == 0.875
    assert stored["bot_clicks|link|l1"]["state"] == "open"
    assert stored["leaked_code|influencer|i2"]["figures"]["orders_code"] == 6

    topic = {
        record.key.decode(): codec.loads(record.value)
        for record in await harness.read_topic(harness.settings.alerts_topic_name)
    }
    assert {f"{CID}|{field}" for field in stored} == set(topic)
    assert all(topic[f"{CID}|{field}"] == value for field, value in stored.items())

    metrics = await asyncio.to_thread(worker.scrape)
    assert 'rule="bot_clicks"' in metrics
    assert 'rule="leaked_code"' in metrics

    # The replay's event-time evaluation raises the same alerts, with the same figures.
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b"".join(
        codec.dumps({"topic": r.topic, "key": r.key.decode() if r.key else None,
                     "value": r.value.decode(), "timestamp": r.timestamp_ms}) + b"\n"
        for r in inputs
    ))
    alerts_out = tmp_path / "alerts.json"
    await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("campaign-kpi")), "replay", str(lines),
         "--out", str(tmp_path / "out.json"), "--alerts", str(alerts_out)],
        check=True, capture_output=True,
    )
    replayed = codec.loads(alerts_out.read_bytes())

    def essence(alert: dict[str, Any]) -> tuple[object, ...]:
        return (alert["rule"], alert["scope"], alert["scope_id"], alert["severity"],
                codec.dumps(alert["figures"]))

    assert sorted(map(essence, replayed)) == sorted(map(essence, stored.values()))
