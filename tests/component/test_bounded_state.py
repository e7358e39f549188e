"""Bounded state (contract 3): final windows are reduced and dropped, outputs unchanged.

An engine that gives up what can no longer change must publish, over its flushes, exactly the
KPI sets a replay keeping everything ends with; and it must hold less.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams import codec
from streams.config import Settings
from streams.domain.engine import Engine
from streams.domain.rules import DAY_US, Rules
from streams.journal import Journal, Meta
from streams.processing import apply_record
from streams.simulate import SimConfig, records

START_US = 1_780_000_000 * 1_000_000


def _stream(days: float) -> list[tuple[str, bytes, bytes, int]]:
    """A simulated run, plus a conversion per campaign at launch.

    Windows are dropped only once every topic that feeds them has a reference (contract 3:
    a topic's first record may land in any window), and the simulator sends no conversions.
    """
    settings = Settings()
    config = SimConfig(seed=3, campaigns=2, influencers=3, days=days, start_us=START_US,
                       max_tier="micro", late_share=0.0, invalid_share=0.0)
    stream = [(settings.topic(r.topic), r.key, r.value, r.timestamp_ms) for r in records(config)]
    campaigns = sorted({key for topic, key, _, _ in stream if topic == "campaigns"})
    launch = [_conversion(cid, 3600, "a") for cid in campaigns]
    # Days later, a conversion an hour after the first: not late (the conversions' reference
    # is the first one), so it lands in windows packed long ago.
    comeback = [_conversion(cid, 7200, "b") for cid in campaigns]
    return [*stream[: len(campaigns)], *launch, *stream[len(campaigns) :], *comeback]


def _conversion(cid: bytes, after_s: int, name: str) -> tuple[str, bytes, bytes, int]:
    at_s = START_US // 1_000_000 + after_s
    at = datetime.fromtimestamp(at_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event_id = f"cv-{name}-{cid.decode()}"
    value = codec.dumps({
        "type": "conversion", "event_id": event_id, "occurred_at": at,
        "campaign_id": cid.decode(), "conversion_id": event_id, "action": "signup",
    })
    return "conversions", cid, value, at_s * 1000


def _published(rules: Rules, stream: list[tuple[str, bytes, bytes, int]], every: int,
               journal_cells: dict[str, bytes] | None = None) -> tuple[dict[str, Any], Engine]:
    logical = Settings().logical_topics()
    engine = Engine(rules)
    journal = Journal(rules)
    published: dict[str, Any] = {}
    for i, (topic, key, value, timestamp) in enumerate(stream, start=1):
        apply_record(engine, logical[topic], key, value, timestamp)
        if i % every == 0 or i == len(stream):
            changes = engine.take_changes()
            published.update((s.key, s.kpis) for s in engine.kpi_sets(changes))
            if journal_cells is not None:
                for cell_key, cell in journal.cells(engine, changes, i, Meta(), 0):
                    if cell is None:
                        journal_cells.pop(cell_key, None)
                    else:
                        journal_cells[cell_key] = cell
    return published, engine


def test_published_sets_equal_the_replay_while_final_windows_leave_the_state() -> None:
    stream = _stream(days=3)
    short = Rules(final_retention_us={w: DAY_US for w in ("1d", "1h", "1m")})
    cells: dict[str, bytes] = {}
    published, bounded = _published(short, stream, every=500, journal_cells=cells)
    reference = Engine(Rules())
    logical = Settings().logical_topics()
    for topic, key, value, timestamp in stream:
        apply_record(reference, logical[topic], key, value, timestamp)
    everything = {s.key: s.kpis for s in reference.all_sets()}
    assert published == everything

    # Live aggregates: the `all` sets and the windows of the last hours (grace: 6 h) only;
    # every other window is packed, a few bytes each.
    held = {key for state in bounded.campaigns.values() for key in state.sets}
    kept = {key for state in reference.campaigns.values() for key in state.sets}
    live_windows = [k for k in held if k[3] is not None]
    assert len([k for k in kept if k[3] is not None]) > 4 * len(live_windows)
    packed = sum(len(data) for s in bounded.campaigns.values() for data in s.archive.values())
    windows_packed = sum(1 for s in bounded.campaigns.values() for _ in s.packed_sets())
    assert packed < 40 * windows_packed
    # The journal tombstoned what left: a restore holds exactly the bounded state.
    _, restored, _ = Journal.restore(short, cells, 0)
    assert {k for s in restored.campaigns.values() for k in s.sets} == held
    assert {s.key: s.kpis for s in restored.all_sets()} == {
        s.key: s.kpis for s in bounded.all_sets()
    }
