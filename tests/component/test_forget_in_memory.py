"""Forget requests through the in-memory pipeline: erased in the flush, exactly once.

A forget request is a control record in its campaign's partition. The flush that applies it
tombstones every state cell, KPI set and alert of the campaign in the same atomic write as
its offsets, and hands the erasure to the sinks; a restart does not bring the campaign back,
and records of it that follow start a new state — what the replay of the same records (the
control record where it stands) computes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from streams import codec
from streams.config import Settings
from streams.control import ForgetRequest
from streams.domain.engine import kpi_key
from streams.domain.vocabulary import TYPE_TOPICS
from streams.journal import Journal, cell_campaign
from streams.kafka_store import partition_of
from streams.metrics import PipelineMetrics
from streams.pipeline import Pipeline
from streams.sinks import Erasure, Flush
from streams.storage import MemoryBroker, Record

from .test_pipeline_in_memory import (
    PARTITIONS,
    Control,
    Feeder,
    MemorySink,
    expected,
    pipeline,
    run_to_end,
    stream,
    strip,
)
from .test_pipeline_in_memory import Record as InputRecord

SETTINGS = Settings()
CONTROL_TOPIC = SETTINGS.control_topic_name
EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "valid"


@dataclass
class ErasingSink(MemorySink):
    """A memory sink that also drops erased campaigns, and keeps the erasures it got."""

    erasures: list[Erasure] = field(default_factory=list)

    async def write(self, flush: Flush) -> Collection[str]:
        for erasure in flush.erasures:
            self.erasures.append(erasure)
            self.sets = {
                k: v for k, v in self.sets.items() if v["campaign_id"] != erasure.campaign_id
            }
        return await super().write(flush)


def forget_record(campaign_id: str, offset: int, request_id: str = "r1") -> InputRecord:
    key, value = ForgetRequest(campaign_id, request_id).record()
    return InputRecord(
        CONTROL_TOPIC, partition_of(key, PARTITIONS), offset, 1_780_000_000_000, key, value
    )


def live(records: list[Record]) -> dict[str, Any]:
    """A compacted topic's values: the last record of each key, tombstones deleting it."""
    values: dict[str, Any] = {}
    for key, value in records:
        assert key is not None
        if value is None:
            values.pop(key.decode(), None)
        else:
            values[key.decode()] = codec.loads(value)
    return values


def busiest_campaign(recs: list[InputRecord]) -> str:
    counts = Counter(r.key.decode() for r in recs if r.key is not None)
    return counts.most_common(1)[0][0]


def campaign_cells(broker: MemoryBroker, campaign_id: str) -> set[str]:
    return {
        key for cells in broker.cells.values() for key in cells
        if cell_campaign(key) == campaign_id
    }


async def test_a_forgotten_campaign_is_erased_everywhere_and_stays_erased() -> None:
    recs = stream(21, 3000)
    cid = busiest_campaign(recs)
    broker, sink, control = MemoryBroker(), ErasingSink(), Control()
    first = pipeline(broker, sink, control)
    first.assigned(range(PARTITIONS))
    await run_to_end(first, Feeder(recs, control), range(PARTITIONS))
    held = campaign_cells(broker, cid)
    kpi_keys = {k for k in live(broker.kpi_records) if k.startswith(f"{cid}|")}
    alert_keys = {k for k in live(broker.alert_records) if k.startswith(f"{cid}|")}
    assert held
    assert kpi_keys
    assert any(v["campaign_id"] == cid for v in sink.sets.values())
    others = {k: v for k, v in live(broker.kpi_records).items() if not k.startswith(f"{cid}|")}

    forget = forget_record(cid, 0)
    all_recs = [*recs, forget]
    await run_to_end(first, Feeder(all_recs, control), range(PARTITIONS))

    assert campaign_cells(broker, cid) == set()
    assert {k for k in live(broker.kpi_records) if k.startswith(f"{cid}|")} == set()
    assert {k for k in live(broker.alert_records) if k.startswith(f"{cid}|")} == set()
    assert strip(live(broker.kpi_records)) == strip(others)  # other campaigns untouched
    assert all(v["campaign_id"] != cid for v in sink.sets.values())
    (erasure,) = sink.erasures
    assert erasure.known
    assert erasure.request_id == "r1"
    assert erasure.state_cells >= len(held)
    assert {f"{cid}|{s}|{i}|{w}|{'all' if t is None else t}"
            for s, i, w, t in erasure.set_keys} == kpi_keys
    assert erasure.alert_keys == len(alert_keys)
    # The request's offset was committed with the erasure, and the replay agrees.
    assert control.committed[CONTROL_TOPIC, forget.partition] == 1
    want, _ = expected(all_recs)
    assert strip(live(broker.kpi_records)) == strip(want)
    assert strip(sink.sets) == strip(want)

    # A restart restores the partitions without the campaign and does not apply it again.
    again_sink, again_control = ErasingSink(), Control()
    again = pipeline(broker, again_sink, again_control)
    again.assigned(range(PARTITIONS))
    await run_to_end(again, Feeder(all_recs, again_control), range(PARTITIONS))
    assert campaign_cells(broker, cid) == set()
    assert again_sink.erasures == []
    assert all(v["campaign_id"] != cid for v in again_sink.sets.values())
    assert strip(again_sink.sets) == strip(want)
    await again.stop()


async def test_records_after_a_forget_start_a_new_campaign_as_the_replay_does() -> None:
    """Forgotten twice mid-stream, and a campaign never seen: what follows counts anew."""
    recs = stream(22, 3000)
    cid = busiest_campaign(recs)
    mine = [i for i, r in enumerate(recs) if r.key == cid.encode()]
    first_at, second_at = mine[len(mine) // 3], mine[len(mine) // 3 + 3]
    all_recs = [
        *recs[:first_at], forget_record(cid, 0, "r1"),
        *recs[first_at:second_at], forget_record(cid, 1, "r2"),
        *recs[second_at:], forget_record("never-seen", 2, "r3"),
    ]
    broker, sink, control = MemoryBroker(), ErasingSink(), Control()
    p = pipeline(broker, sink, control)
    p.assigned(range(PARTITIONS))
    feeder = Feeder(all_recs, control)
    while batch := feeder.batch(range(PARTITIONS), 40):
        await p.feed(batch, caught_up=False)
    await p.flush()
    await p.settle()

    want, want_dead = expected(all_recs)
    assert any(k.startswith(f"{cid}|") for k in want)  # the new state of the campaign
    assert strip(live(broker.kpi_records)) == strip(want)
    assert strip(sink.sets) == strip(want)
    dead = sorted(
        (letter["reason"], letter["partition"], letter["offset"])
        for letter in (codec.loads(v) for _, v in broker.dead_letters if v is not None)
    )
    assert dead == want_dead
    erased = {(e.request_id, e.known) for e in sink.erasures}
    assert erased == {("r1", True), ("r2", True), ("r3", False)}
    await p.stop()



def _example(kind: str) -> dict[str, Any]:
    name = {"campaign": "full", "conversion": "minimal"}.get(kind, "basic")
    loaded: dict[str, Any] = json.loads((EXAMPLES / kind / f"{name}.json").read_text())
    return loaded


def _event(kind: str, number: int, at_s: int, campaign_id: str, **fields: Any) -> tuple[
    str, bytes, bytes, int
]:
    """A valid example of the schema, moved to a campaign and a time."""
    event = {**_example(kind), **fields}
    event.update(event_id=f"{kind}-{number}", campaign_id=campaign_id,
                 occurred_at=datetime.fromtimestamp(at_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    topic = SETTINGS.topic(TYPE_TOPICS[kind])
    return topic, campaign_id.encode(), codec.dumps(event), at_s * 1000 + 1000


def three_days(campaign_id: str) -> list[tuple[str, bytes, bytes, int]]:
    """Three days of a campaign's records, interactions every two minutes.

    With a record of every topic that feeds windows at the start and every six hours,
    windows become final and, past a day's retention, leave the state.
    """
    start_s = int(datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp())
    out = [_event("campaign", 0, start_s, campaign_id)]
    for n, at_s in enumerate(range(start_s, start_s + 3 * 86_400 + 1, 120)):
        out.append(_event("interaction", n, at_s, campaign_id, viewer_id=f"v{n % 50}"))
        if n % 180 == 0:  # every six hours
            out += [
                _event("post_published", n, at_s, campaign_id, post_id=f"post-{n}"),
                _event("click", n, at_s, campaign_id, visitor_id=f"vis-{n}"),
                _event("order", n, at_s, campaign_id, order_id=f"ord-{n}"),
                _event("conversion", n, at_s, campaign_id, conversion_id=f"cnv-{n}"),
            ]
    return out


async def test_windows_dropped_past_their_retention_leave_the_kpi_topic_too() -> None:
    """Windows dropped from the state leave the KPI topic too when their campaign is erased.

    Past their retention their KPI records stay (the state no longer has them); erasing the
    campaign tombstones every window of the spans the state dropped.
    """
    settings = Settings(batch_max=200, ttl_s=dict.fromkeys(("1m", "1h", "1d"), 86_400))
    offsets: Counter[tuple[str, int]] = Counter()
    recs = []
    for topic, key, value, timestamp in [*three_days("c-long"), *three_days("c-other")]:
        partition = partition_of(key, PARTITIONS)
        recs.append(InputRecord(topic, partition, offsets[topic, partition], timestamp, key,
                                value))
        offsets[topic, partition] += 1
    cid = "c-long"
    broker, sink, control = MemoryBroker(), ErasingSink(), Control()
    p = Pipeline(settings, broker.store, [sink], PipelineMetrics(CollectorRegistry()),
                 sink_check_interval_s=0.0)
    p.control = control
    p.assigned(range(PARTITIONS))
    await run_to_end(p, Feeder(recs, control), range(PARTITIONS))
    assert broker.dead_letters == []
    number = partition_of(cid.encode(), PARTITIONS)
    _, restored, _ = Journal.restore(settings.rules(), broker.cells[number], number)
    held = {kpi_key(cid, key) for key in restored.campaigns[cid].set_keys()}
    on_topic = {k for k in live(broker.kpi_records) if k.startswith(f"{cid}|")}
    dropped = on_topic - held
    assert len(dropped) > 300  # the first day's minutes and hours, no longer in the state
    others = {k: v for k, v in live(broker.kpi_records).items() if not k.startswith(f"{cid}|")}
    await p.stop()

    # Forgotten by a worker that restored the state: the dropped spans were journaled.
    again = Pipeline(settings, broker.store, [sink], PipelineMetrics(CollectorRegistry()),
                     sink_check_interval_s=0.0)
    again_control = Control()
    again.control = again_control
    again.assigned(range(PARTITIONS))
    all_recs = [*recs, forget_record(cid, 0)]
    await run_to_end(again, Feeder(all_recs, again_control), range(PARTITIONS))
    assert {k for k in live(broker.kpi_records) if k.startswith(f"{cid}|")} == set()
    assert strip(live(broker.kpi_records)) == strip(others)
    (erasure,) = sink.erasures
    assert erasure.past_retention >= len(dropped)
    assert campaign_cells(broker, cid) == set()
    await again.stop()
