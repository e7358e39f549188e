"""A real worker agrees with the naive oracle (tests/oracle), value by value.

The replay agreement of test_worker_pipeline.py runs the product's engine on both sides; here
the reference is the independent naive computation of the contract, fed the records the
worker consumed, in the order they were produced (definitions first, with their record
timestamps), exactly as tests/oracle/test_replay_matches_naive.py compares the replay.
"""

from __future__ import annotations

from typing import Any

from ..oracle.compare import compare_values, report
from ..oracle.naive import key_of, run
from .worker_harness import Harness, define_campaigns, generated_records, replay_lines


async def test_worker_outputs_match_the_naive_oracle(harness: Harness) -> None:
    records = generated_records(15, 4000)
    expected = run(
        [line.decode() for line in replay_lines(records)],
        {number for number, r in enumerate(records, start=1) if r.schema_invalid},
    )
    assert len(expected.values) > 1000  # a real comparison
    assert expected.dead_letters

    harness.start_worker()
    produced, events = await define_campaigns(harness, records)
    await harness.produce(events, produced)
    await harness.wait_processed()

    topic_values = sorted((await harness.kpi_topic_values()).values(), key=key_of)
    diffs = compare_values(expected, topic_values)
    assert not diffs, "KPI topic: " + report(diffs)

    stored = await harness.redis_sets(expected.by_key())
    missing = sorted(key for key, found in stored.items() if found is None)
    assert not missing, f"{len(missing)} KPI sets missing from Redis, e.g. {missing[:5]}"
    redis_values: list[dict[str, Any]] = []
    for key, found in sorted(stored.items()):
        assert found is not None
        # The header fields the hash does not hold come from its Redis key (contract 5.1).
        header = expected.by_key()[key]
        redis_values.append({
            **{name: header[name] for name in ("schema_version", "campaign_id", "scope",
                                               "scope_id", "window")},
            "window_start": found.window_start,
            "window_end": found.window_end,
            "kpis": found.kpis,
            "updated_at": found.updated_at_ms,
        })
    diffs = compare_values(expected, redis_values)
    assert not diffs, "Redis: " + report(diffs)
