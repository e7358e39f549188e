"""Event-time windows (contract section 2): UTC, start inclusive, end exclusive."""

from __future__ import annotations

import pytest

from streams.codec import parse_time
from streams.domain.vocabulary import Window
from streams.domain.windows import window_bounds_s

from .kpi_factories import engine_with, interaction, kpi, secs, us


@pytest.mark.parametrize(
    ("instant", "window", "start", "end"),
    [
        # minute
        ("2026-11-02T10:05:00Z", "1m", "2026-11-02T10:05:00Z", "2026-11-02T10:06:00Z"),
        ("2026-11-02T10:05:59.999999Z", "1m", "2026-11-02T10:05:00Z", "2026-11-02T10:06:00Z"),
        ("2026-11-02T10:06:00Z", "1m", "2026-11-02T10:06:00Z", "2026-11-02T10:07:00Z"),
        # hour: an event exactly at 10:00:00 opens [10:00, 11:00); a microsecond before is not
        ("2026-11-02T10:00:00Z", "1h", "2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z"),
        ("2026-11-02T09:59:59.999999Z", "1h", "2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z"),
        ("2026-11-02T10:59:59.5Z", "1h", "2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z"),
        # day: UTC days
        ("2026-11-02T00:00:00Z", "1d", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
        ("2026-11-01T23:59:59.999999Z", "1d", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
        ("2026-11-02T23:30:00Z", "1d", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
        # +02:00 offsets crossing midnight: the day is the UTC day
        ("2026-11-03T01:30:00+02:00", "1d", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
        ("2026-11-03T01:30:00+02:00", "1h", "2026-11-02T23:00:00Z", "2026-11-03T00:00:00Z"),
        ("2026-11-03T02:00:00+02:00", "1d", "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z"),
        ("2026-11-02T22:30:00-02:00", "1d", "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z"),
        # leap day and year end
        ("2028-02-29T12:00:00Z", "1d", "2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z"),
        ("2026-12-31T23:59:59.999999Z", "1h", "2026-12-31T23:00:00Z", "2027-01-01T00:00:00Z"),
        ("1970-01-01T00:00:00Z", "1d", "1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z"),
    ],
)
def test_window_bounds(instant: str, window: str, start: str, end: str) -> None:
    assert window_bounds_s(window, us(instant)) == (secs(start), secs(end))
    assert window_bounds_s(Window(window), us(instant)) == (secs(start), secs(end))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02T10:00:00Z", "2026-11-02T10:00:00Z"),
        ("2026-11-02t10:00:00z", "2026-11-02T10:00:00Z"),
        ("2026-11-03T01:30:00+02:00", "2026-11-02T23:30:00Z"),
        ("2026-11-02T22:30:00-02:00", "2026-11-03T00:30:00Z"),
        ("2026-11-02T10:00:00.5Z", "2026-11-02T10:00:00.500000Z"),
        ("2026-11-02T10:00:00.123456Z", "2026-11-02T10:00:00.123456Z"),
        # digits beyond the sixth are dropped, never rounded up into the next window
        ("2026-11-02T09:59:59.9999999Z", "2026-11-02T09:59:59.999999Z"),
        ("2026-11-02T09:59:59.999999999+00:00", "2026-11-02T09:59:59.999999Z"),
    ],
)
def test_wire_times_become_utc_microseconds(text: str, expected: str) -> None:
    assert parse_time(text) == us(expected)


@pytest.mark.parametrize(
    ("occurred", "window", "holder", "other"),
    [
        ("2026-11-02T10:00:00Z", "1h", "2026-11-02T10:00:00Z", "2026-11-02T09:00:00Z"),
        ("2026-11-02T09:59:59.999999Z", "1h", "2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z"),
        ("2026-11-02T10:00:00Z", "1m", "2026-11-02T10:00:00Z", "2026-11-02T09:59:00Z"),
        ("2026-11-02T09:59:59.999999Z", "1m", "2026-11-02T09:59:00Z", "2026-11-02T10:00:00Z"),
        ("2026-11-03T01:30:00+02:00", "1d", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
        ("2026-11-03T00:00:00Z", "1d", "2026-11-03T00:00:00Z", "2026-11-02T00:00:00Z"),
    ],
)
def test_engine_puts_an_event_in_the_window_holding_it(
    occurred: str, window: str, holder: str, other: str
) -> None:
    engine = engine_with(interaction(us(occurred), action="like"))
    assert kpi(engine, "likes", window=window, start=holder) == 1
    assert kpi(engine, "likes", window=window, start=other) is None
    assert kpi(engine, "likes", "influencer", "i1", window=window if window != "1m" else "1h",
               start=holder) == 1


def test_window_start_and_end_are_published_in_epoch_seconds() -> None:
    engine = engine_with(interaction("2026-11-02T10:00:00.25Z"))
    found = {
        (s.scope, s.window): (s.window_start, s.window_end)
        for s in engine.all_sets()
    }
    assert found[("campaign", "1m")] == (secs("2026-11-02T10:00:00Z"), secs("2026-11-02T10:01:00Z"))
    assert found[("campaign", "1h")] == (secs("2026-11-02T10:00:00Z"), secs("2026-11-02T11:00:00Z"))
    assert found[("campaign", "1d")] == (secs("2026-11-02T00:00:00Z"), secs("2026-11-03T00:00:00Z"))
    assert found[("campaign", "all")] == (None, None)
    assert found[("post", "all")] == (None, None)


def test_kpi_set_keys_follow_contract_5_2() -> None:
    engine = engine_with(interaction("2026-11-02T10:00:00.25Z", post_id="p1"))
    keys = {s.key for s in engine.all_sets()}
    hour, day, minute = (secs("2026-11-02T10:00:00Z"), secs("2026-11-02T00:00:00Z"),
                         secs("2026-11-02T10:00:00Z"))
    assert keys == {
        "c1|campaign|c1|all|all", f"c1|campaign|c1|1d|{day}", f"c1|campaign|c1|1h|{hour}",
        f"c1|campaign|c1|1m|{minute}", "c1|influencer|i1|all|all",
        f"c1|influencer|i1|1d|{day}", f"c1|influencer|i1|1h|{hour}", "c1|post|p1|all|all",
    }
