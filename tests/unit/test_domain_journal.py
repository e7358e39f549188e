"""The journal persists exactly the engine state: restore + the rest equals one run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from streams import codec
from streams.config import Settings
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.events import AnyEvent
from streams.domain.journal import drain, restore
from streams.replay import BadLine, parse_line

sys.path.insert(0, str(Path(__file__).parents[1] / "oracle"))
import contextlib

from generate import generate


def _events(seed: int, size: int) -> list[tuple[str, AnyEvent]]:
    settings = Settings()
    logical = settings.logical_topics()
    events = []
    for number, line in enumerate(generate(seed, size).lines, start=1):
        try:
            record = parse_line(number, line.encode(), settings)
            topic = logical[record.topic]
            event = codec.decode(topic, record.key, record.value, record.timestamp_ms)
            events.append((topic, event))
        except (BadLine, InvalidRecord):
            continue
    return events


def _apply(engine: Engine, events: list[tuple[str, AnyEvent]]) -> None:
    for topic, event in events:
        with contextlib.suppress(InvalidRecord):
            engine.apply(topic, event)


def _store(cells: dict[str, Any], new: list[tuple[str, Any]]) -> None:
    # A compacted topic: the latest value per key; a tombstone removes the key.
    for key, value in codec.loads(codec.dumps(new)):
        if value is None:
            cells.pop(key, None)
        else:
            cells[key] = value


@pytest.mark.parametrize(("seed", "cut_every"), [(1, 97), (2, 1500), (3, 5000)])
def test_restore_then_continue_equals_one_uninterrupted_run(seed: int, cut_every: int) -> None:
    events = _events(seed, 6000)
    reference = Engine()
    _apply(reference, events)

    middle = len(events) // 2
    journaled = Engine(journaled=True)
    cells: dict[str, Any] = {}
    for start in range(0, middle, cut_every):
        _apply(journaled, events[start : min(start + cut_every, middle)])
        _store(cells, drain(journaled, flush_seq=start)[1])
    resumed = restore(journaled.rules, cells)
    _apply(resumed, events[middle:])

    expected = {kpi_set.key: kpi_set for kpi_set in reference.all_sets()}
    actual = {kpi_set.key: kpi_set for kpi_set in resumed.all_sets()}
    assert actual.keys() == expected.keys()
    assert [key for key in expected if actual[key] != expected[key]] == []


def test_drain_reports_each_changed_set_once() -> None:
    events = _events(4, 2000)
    engine = Engine(journaled=True)
    _apply(engine, events)
    first, _ = drain(engine, 1)
    assert len({kpi_set.key for kpi_set in first}) == len(first) > 0
    assert drain(engine, 2) == ([], [])
