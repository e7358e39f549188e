"""Forget requests through the in-memory pipeline: erased in the flush, exactly once.

A forget request is a control record in its campaign's partition. The flush that applies it
tombstones every state cell, KPI set and alert of the campaign in the same atomic write as
its offsets, and hands the erasure to the sinks; a restart does not bring the campaign back,
and records of it that follow start a new state — what the replay of the same records (the
control record where it stands) computes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from streams import codec
from streams.config import Settings
from streams.control import ForgetRequest
from streams.journal import cell_campaign
from streams.kafka_store import partition_of
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

CONTROL_TOPIC = Settings().control_topic_name


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
