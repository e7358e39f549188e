"""The pipeline in process, on the in-memory store: exactly once through every hand-over.

No broker: records are fed by hand, partitions change hands between pipelines sharing one
:class:`MemoryBroker`, commits are made to fail. After every story, the KPI records, the
dead letters and what the sinks hold must equal the batch replay of the same records.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams import codec, replay
from streams.config import Settings
from streams.kafka_store import partition_of
from streams.metrics import PipelineMetrics
from streams.pipeline import Pipeline
from streams.simulate import SimConfig, records
from streams.sinks import Flush
from streams.storage import MemoryBroker

PARTITIONS = 3
START_US = 1_780_000_000 * 1_000_000


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass
class Control:
    """Stands for the consumer: records seeks and group commits."""

    generation: int = 1
    seeks: list[dict[tuple[str, int], int]] = field(default_factory=list)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)

    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        self.seeks.append(dict(positions))

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self.committed.update(offsets)


@dataclass
class MemorySink:
    """Keeps the latest value of every KPI set, refusing writes older than it holds."""

    name: str = "memory"
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    lose: set[str] = field(default_factory=set)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def forget(self, campaign_ids: Iterable[str]) -> None:
        pass

    async def write(self, flush: Flush) -> Collection[str]:
        for kpi_set in flush.kpi_sets:
            seq = flush.sequences[kpi_set.campaign_id]
            if seq < self.sequences.get(kpi_set.campaign_id, -1):
                self.refused += 1
                continue
            self.sequences[kpi_set.campaign_id] = seq
            self.sets[kpi_set.key] = kpi_set.to_value(0)
        return ()

    async def lost(self, campaign_ids: Collection[str]) -> Collection[str]:
        lost, self.lose = self.lose & set(campaign_ids), set()
        for cid in lost:
            self.sets = {k: v for k, v in self.sets.items() if v["campaign_id"] != cid}
        return lost


def stream(seed: int, events: int) -> list[Record]:
    """Simulated records with Kafka positions (definitions first, each topic in order)."""
    settings = Settings()
    config = SimConfig(seed=seed, events=events, start_us=START_US, campaigns=5,
                       invalid_share=0.02, duplicate_share=0.05, late_share=0.03)
    next_offset: dict[tuple[str, int], int] = {}
    out = []
    for sim in records(config):
        topic = settings.topic(sim.topic)
        partition = partition_of(sim.key, PARTITIONS)
        offset = next_offset.get((topic, partition), 0)
        next_offset[topic, partition] = offset + 1
        out.append(Record(topic, partition, offset, sim.timestamp_ms, sim.key, sim.value))
    return out


def expected(recs: list[Record]) -> tuple[dict[str, Any], list[tuple[str, int, int]]]:
    """The replay's KPI values by key, and its dead letters as (reason, partition, offset)."""
    settings = Settings()
    lines = [
        (n, codec.dumps({"topic": r.topic, "key": None if r.key is None else r.key.decode(),
                         "value": (r.value or b"").decode("utf-8", "surrogatepass"),
                         "timestamp": r.timestamp}))
        for n, r in enumerate(recs, start=1)
    ]
    result = replay.run(lines, settings)
    values = {v_key(v): v for v in result.results()}
    dead = []
    for line in result.dead_letters:
        letter = codec.loads(line)
        source = recs[letter["offset"] - 1]
        dead.append((letter["reason"], source.partition, source.offset))
    return values, sorted(dead)


def v_key(value: dict[str, Any]) -> str:
    start = "all" if value["window_start"] is None else value["window_start"]
    return f"{value['campaign_id']}|{value['scope']}|{value['scope_id']}|{value['window']}|{start}"


def pipeline(broker: MemoryBroker, sink: MemorySink, control: Control) -> Pipeline:
    settings = Settings(batch_max=50)
    made = Pipeline(
        settings, broker.store, [sink], PipelineMetrics(CollectorRegistry()),
        sink_check_interval_s=0.0,
    )
    made.control = control
    return made


def outputs(broker: MemoryBroker) -> tuple[dict[str, Any], list[tuple[str, int, int]]]:
    """The latest KPI record per key and the dead letters, from the broker's outputs."""
    values = {}
    for key, value in broker.kpi_records:
        assert key is not None
        assert value is not None
        values[key.decode()] = codec.loads(value)
    dead = []
    for _, value in broker.dead_letters:
        assert value is not None
        letter = codec.loads(value)
        dead.append((letter["reason"], letter["partition"], letter["offset"]))
    return values, sorted(dead)


def strip(values: dict[str, Any]) -> dict[str, Any]:
    return {k: {f: x for f, x in v.items() if f != "updated_at"} for k, v in values.items()}


def assert_agrees(broker: MemoryBroker, sink: MemorySink, recs: list[Record]) -> None:
    want, want_dead = expected(recs)
    got, got_dead = outputs(broker)
    assert strip(got) == strip(want)
    assert got_dead == want_dead
    assert strip(sink.sets) == strip(want)


class Feeder:
    """Feeds a pipeline the records of its assigned partitions from their positions."""

    def __init__(self, recs: list[Record], control: Control) -> None:
        self.recs = recs
        self.control = control
        self.position: dict[tuple[str, int], int] = {}

    def batch(self, partitions: Iterable[int], size: int) -> list[Record]:
        for seek in self.control.seeks:
            self.position.update(seek)
        self.control.seeks.clear()
        wanted = set(partitions)
        batch = []
        for r in self.recs:
            if r.partition in wanted and r.offset >= self.position.get((r.topic, r.partition), 0):
                batch.append(r)
                if len(batch) == size:
                    break
        for r in batch:
            self.position[r.topic, r.partition] = r.offset + 1
        return batch


async def run_to_end(p: Pipeline, feeder: Feeder, partitions: Iterable[int]) -> None:
    partitions = list(partitions)
    while batch := feeder.batch(partitions, 40):
        await p.feed(batch, caught_up=False)
    await p.idle()
    await p.flush()
    await p.settle()


async def test_one_pipeline_agrees_with_the_replay() -> None:
    recs = stream(1, 3000)
    broker, sink, control = MemoryBroker(), MemorySink(), Control()
    p = pipeline(broker, sink, control)
    p.assigned(range(PARTITIONS))
    await run_to_end(p, Feeder(recs, control), range(PARTITIONS))
    assert_agrees(broker, sink, recs)
    assert control.committed  # group offsets follow the flushes
    await p.stop()


async def test_a_restarted_pipeline_restores_skips_and_republishes() -> None:
    recs = stream(2, 3000)
    broker, sink, control = MemoryBroker(), MemorySink(), Control()
    first = pipeline(broker, sink, control)
    first.assigned(range(PARTITIONS))
    feeder = Feeder(recs, control)
    for _ in range(20):
        await first.feed(feeder.batch(range(PARTITIONS), 40), caught_up=False)
    # Crash: the unflushed records are lost with the process; the sink lost its data too.
    sink.sets.clear()
    second_control = Control()
    second = pipeline(broker, sink, second_control)
    second.assigned(range(PARTITIONS))
    refeed = Feeder(recs, second_control)
    await run_to_end(second, refeed, range(PARTITIONS))
    assert_agrees(broker, sink, recs)


async def test_a_partition_taken_over_mid_stream_is_never_written_by_its_old_owner() -> None:
    recs = stream(3, 4000)
    broker, sink = MemoryBroker(), MemorySink()
    old_control, new_control = Control(generation=1), Control(generation=2)
    old = pipeline(broker, sink, old_control)
    old.assigned(range(PARTITIONS))
    old_feed = Feeder(recs, old_control)
    for _ in range(15):
        await old.feed(old_feed.batch(range(PARTITIONS), 40), caught_up=False)
    # The group moves partition 0 to a new worker while the old one goes on (a zombie).
    new = pipeline(broker, sink, new_control)
    new.assigned([0])
    new_feed = Feeder(recs, new_control)
    for _ in range(5):
        await old.feed(old_feed.batch(range(PARTITIONS), 40), caught_up=False)
        await new.feed(new_feed.batch([0], 40), caught_up=False)
    await old.flush()
    assert 0 not in old.partitions  # fenced at its first commit after the take-over
    await old.settle()
    # The old worker learns of the rebalance and keeps partitions 1 and 2.
    old.assigned([1, 2])
    await run_to_end(old, old_feed, [1, 2])
    await run_to_end(new, new_feed, [0])
    assert_agrees(broker, sink, recs)


async def test_a_commit_that_fails_drops_the_state_and_seeks_back() -> None:
    recs = stream(4, 3000)
    broker, sink, control = MemoryBroker(), MemorySink(), Control()
    p = pipeline(broker, sink, control)
    p.assigned(range(PARTITIONS))
    feeder = Feeder(recs, control)
    rng = random.Random(4)
    failures = 0
    while batch := feeder.batch(range(PARTITIONS), 40):
        if rng.random() < 0.15:
            broker.fail_next += 1
            failures += 1
        await p.feed(batch, caught_up=rng.random() < 0.5)
    await p.idle()
    await p.flush()
    await p.settle()
    assert failures > 5
    assert_agrees(broker, sink, recs)


async def test_a_partition_whose_last_flush_failed_is_opened_again_without_new_input() -> None:
    """The failed flush held the partition's last records: nothing more will be fetched for it.

    It is opened again at once (restored, sought back), so those records come again.
    """
    recs = stream(6, 2000)
    broker, sink, control = MemoryBroker(), MemorySink(), Control()
    p = pipeline(broker, sink, control)
    p.assigned(range(PARTITIONS))
    feeder = Feeder(recs, control)
    while batch := feeder.batch(range(PARTITIONS), 5000):
        await p.feed(batch, caught_up=False)
    broker.fail_next = 1
    await p.flush()  # one partition's flush is lost; the consumer is at the end of all
    assert len(p.partitions) == PARTITIONS - 1
    assert feeder.batch(range(PARTITIONS), 5000) == []
    await p.idle()  # the consumer's fetch came back empty
    assert len(p.partitions) == PARTITIONS
    await run_to_end(p, feeder, range(PARTITIONS))
    assert len(p.partitions) == PARTITIONS
    assert_agrees(broker, sink, recs)
    await p.stop()


async def test_state_written_by_a_newer_generation_is_left_alone() -> None:
    recs = stream(5, 1500)
    broker, sink = MemoryBroker(), MemorySink()
    newer_control = Control(generation=5)
    newer = pipeline(broker, sink, newer_control)
    newer.assigned([0])
    await run_to_end(newer, Feeder(recs, newer_control), [0])
    commits = broker.commits
    zombie_control = Control(generation=3)
    zombie = pipeline(broker, sink, zombie_control)
    zombie.assigned([0])
    await zombie.feed(Feeder(recs, zombie_control).batch([0], 40), caught_up=True)
    assert 0 not in zombie.partitions
    assert broker.commits == commits


async def test_what_a_sink_lost_is_written_again_without_new_input() -> None:
    recs = stream(6, 2000)
    broker, sink, control = MemoryBroker(), MemorySink(), Control()
    p = pipeline(broker, sink, control)
    p.assigned(range(PARTITIONS))
    await run_to_end(p, Feeder(recs, control), range(PARTITIONS))
    campaigns = {v["campaign_id"] for v in sink.sets.values()}
    sink.lose = set(campaigns)
    await p.idle()  # the check finds them lost
    await p.idle()  # and writes them again
    assert_agrees(broker, sink, recs)


@pytest.mark.parametrize("seed", [7, 8])
async def test_hand_overs_at_random_moments_agree_with_the_replay(seed: int) -> None:
    """Two workers; partitions move between them at random moments; commits fail at random."""
    recs = stream(seed, 4000)
    rng = random.Random(seed)
    broker, sink = MemoryBroker(), MemorySink()
    generation = 1
    owners = {number: 0 for number in range(PARTITIONS)}
    controls = [Control(generation), Control(generation)]
    pipes = [pipeline(broker, sink, c) for c in controls]
    feeders = [Feeder(recs, c) for c in controls]
    for i, p in enumerate(pipes):
        p.assigned([n for n, o in owners.items() if o == i])
    for _ in range(200):
        if rng.random() < 0.1:
            generation += 1
            owners = {n: rng.randrange(2) for n in owners}
            for i, (p, c) in enumerate(zip(pipes, controls, strict=True)):
                c.generation = generation
                p.assigned([n for n, o in owners.items() if o == i])
        if rng.random() < 0.05:
            broker.fail_next += 1
        i = rng.randrange(2)
        mine = [n for n, o in owners.items() if o == i]
        await pipes[i].feed(feeders[i].batch(mine, rng.randint(1, 60)), caught_up=False)
    for i, p in enumerate(pipes):
        await run_to_end(p, feeders[i], [n for n, o in owners.items() if o == i])
    assert_agrees(broker, sink, recs)


def _click_record(offset: int, event_id: str, agent: str, at_s: int) -> Record:
    value = codec.dumps({
        "type": "click", "event_id": event_id, "campaign_id": "c-alert",
        "occurred_at": f"2026-05-28T{at_s // 3600:02d}:{at_s // 60 % 60:02d}:{at_s % 60:02d}Z",
        "link_id": "l1", "influencer_id": "i1", "channel": "link", "user_agent": agent,
    })
    return Record("clicks", 0, offset, 1_780_000_000_000, b"c-alert", value)


async def test_alerts_open_and_resolve_exactly_once_with_their_flush() -> None:
    """A link flooded with bots opens bot_clicks; human clicks resolve it; a restart keeps it."""
    broker, sink, control = MemoryBroker(), MemorySink(), Control()
    p = pipeline(broker, sink, control)
    p.assigned([0])
    flood = [_click_record(i, f"b{i}", "facebookexternalhit/1.1", i) for i in range(60)]
    await p.feed(flood[:1], caught_up=True)  # opens the partition (the fetch comes again)
    await p.feed(flood, caught_up=True)
    await p.settle()
    alerts = [codec.loads(v) for _, v in broker.alert_records if v is not None]
    assert {(a["rule"], a["scope_id"], a["state"]) for a in alerts} == {
        ("bot_clicks", "l1", "open")
    }
    assert alerts[-1]["figures"] == {
        "clicks": 60, "clicks_bot": 60, "bot_share": 1.0, "threshold": 0.15,
    }
    # Restarted: the alert is restored, not opened again.
    again = pipeline(broker, sink, Control())
    again.assigned([0])
    humans = [_click_record(60 + i, f"h{i}", "Mozilla/5.0", 100 + i) for i in range(400)]
    await again.feed(humans[:1], caught_up=True)
    await again.feed(humans, caught_up=True)
    await again.settle()
    alerts = [codec.loads(v) for _, v in broker.alert_records if v is not None]
    first_seen = {a["first_seen"] for a in alerts}
    assert len(first_seen) == 1  # one alert, refreshed, never opened twice
    assert alerts[-1]["state"] == "resolved"
    assert alerts[-1]["figures"]["clicks"] < 460  # resolved as soon as the share fell
