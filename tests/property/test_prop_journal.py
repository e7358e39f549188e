"""Restore then continue equals one uninterrupted run, for random v2 inputs and cut points."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.vocabulary import Topic

from ..unit.journal_worker import Worker
from ..unit.v2_stream import BASE, HOUR, Item, StreamMaker, by_key, definition, final_sets

Plan = tuple[list[Item], list[int], set[int]]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """Records, the sizes of the batches between flushes, and the flushes followed by a restart."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    campaigns = draw(st.sampled_from([("ca",), ("ca", "cb"), ("ca", "cb", "cc")]))
    maker = StreamMaker(rng, campaigns)
    head: list[Item] = [(Topic.CAMPAIGNS, definition(cid, BASE - 48 * HOUR)) for cid in campaigns]
    items = head + maker.items(draw(st.integers(0, 250)))
    batches: list[int] = []
    left = len(items)
    while left > 0:
        size = min(left, draw(st.integers(1, 60)))
        batches.append(size)
        left -= size
    restarts = draw(st.sets(st.integers(1, max(1, len(batches)))))
    return items, batches, restarts


@settings(max_examples=40, deadline=None)
@given(plans())
def test_restore_then_continue_equals_one_run(
    plan: Plan,
) -> None:
    items, batches, restarts = plan
    worker = Worker()
    reference = Worker()
    start = 0
    for number, size in enumerate(batches, start=1):
        batch = items[start : start + size]
        start += size
        for target in (worker, reference):
            target.apply(batch)
            target.flush()
        assert worker.published[-1] == reference.published[-1], f"flush {number}"
        if number in restarts:
            worker.restart()
    assert by_key(worker.engine.all_sets()) == final_sets(items)
