"""The benchmark's workload (benchmarks/workload.py): valid but for its planted share."""

from __future__ import annotations

from collections import Counter

from benchmarks import workload
from streams.domain.vocabulary import Topic

from .support import Applied, apply

END_S = 1_780_000_000.0


def test_the_mix_is_deterministic_valid_and_dead_letters_only_its_invalid_share() -> None:
    made = workload.Workload("t", campaigns=4, influencers=5, seed=3)
    stream = list(made.records(20_000, END_S, 6 * 3600))
    again = list(workload.Workload("t", campaigns=4, influencers=5, seed=3).records(
        20_000, END_S, 6 * 3600))
    assert stream == again
    assert len(stream) == 20_000
    applied: Applied = apply(stream)
    outcomes = Counter(applied.outcomes)
    # A re-send may pick a broken record: it is dead-lettered again.
    rejected = sum(applied.reasons.values())
    assert 0 < made.counts["invalid"] <= rejected <= made.counts["invalid"] + (
        made.counts["duplicate"])
    assert set(applied.reasons) == {"schema_violation"}
    # Re-sends pick from recent records: those past the 10-minute horizon count again.
    assert 0.7 * made.counts["duplicate"] <= outcomes["duplicate"] <= made.counts["duplicate"]
    topics = Counter(r.topic for r in stream)
    assert topics[Topic.INTERACTIONS] / len(stream) > 0.7  # interaction-heavy
    # Event time spread over the span, records sent half a second after their event.
    assert stream[-1].timestamp_ms <= END_S * 1000 + 500


def test_viewer_pools_take_reach_into_sketches() -> None:
    made = workload.Workload("t", campaigns=1, influencers=5, seed=3)
    applied = apply(made.records(20_000, END_S, 6 * 3600))
    assert applied.kpis("t-c000")["reach"] > 1_000  # past the exact limit (100)


def test_live_records_and_probes_happen_now() -> None:
    made = workload.Workload("t", campaigns=2, seed=1)
    definitions = list(made.records(2, END_S, 60))
    live = made.live(END_S)
    assert abs(live.timestamp_ms - END_S * 1000) <= 2_500
    probe = made.probe("t-probe", "t-probe-p00001", END_S)
    applied = apply([*definitions, live, probe])
    assert applied.outcomes[-1] == "counted"
    assert applied.kpis("t-probe", "post", "t-probe-p00001")["likes"] == 1
